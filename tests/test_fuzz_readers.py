"""Every reader of outside input, fuzzed with hypothesis: passage JSONL and TSV, WoW JSON,
YAML presets, index metadata, chat input.

Each input either loads or fails with the reader's own error naming the file and the
line (or field); no other exception escapes. Structured cases plant known bad lines
among good ones, so the tests also check *which* line is named and that the good
lines load unchanged. The number of inputs each reader was given is printed at the
end of the run (`fuzzed inputs per reader`), the figures the README quotes.
"""

import json
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_dialogue.retrieval.passages import (
    PassageFileError, PassageStore, SkippedLines, _read_jsonl)

FUZZ_COUNTS = {}  # reader -> inputs given; reported by conftest.pytest_terminal_summary


def fuzz(reader, max_examples):
    """hypothesis settings for one reader, counting the inputs it is given."""
    def decorate(test):
        wrapped = settings(max_examples=max_examples, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])(test)
        wrapped.reader = reader
        return wrapped
    return decorate


def count(reader):
    FUZZ_COUNTS[reader] = FUZZ_COUNTS.get(reader, 0) + 1


def write(data: bytes, suffix: str) -> Path:
    """A fresh file per example (hypothesis runs many examples in one test call)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- passages: planted bad lines

SMALL_LIMIT = 300  # bytes per line in the structured tests, so over-long lines stay cheap

text = st.text(max_size=40)
nonblank = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
BAD_JSONL = ["truncated", "not_object", "missing", "title_type", "id_type", "empty_id",
             "surrogate", "not_utf8", "too_long", "duplicate", "deep"]


@st.composite
def jsonl_case(draw):
    """(file bytes, expected passages, bad line numbers) with bad lines planted at random."""
    out, expected, bad, n = [], [], [], 0
    for i in range(draw(st.integers(0, 8))):
        n += 1
        if draw(st.booleans()):
            out.append(draw(st.sampled_from([b"", b"  ", b"\t"])) + b"\n")  # blank: ignored
            continue
        kind = draw(st.sampled_from(["good"] * 6 + BAD_JSONL))
        if kind == "duplicate" and not expected:
            kind = "good"
        pid, title, body = f"id-{i}", draw(text), draw(nonblank)
        record = {"id": pid, "title": title, "text": body}
        ascii_only = draw(st.booleans())
        if kind == "good":
            line = json.dumps(record, ensure_ascii=ascii_only).encode()
            if len(line) > SMALL_LIMIT - 2:  # (a \r counts) refused as too long
                kind = "too_long"
        if kind == "good":
            expected.append((pid, title, body.strip()))
        else:
            bad.append(n)
            dumped = json.dumps(record, ensure_ascii=ascii_only)
            line = {
                "truncated": lambda: dumped[:draw(st.integers(1, len(dumped) - 1))].encode(),
                "not_object": lambda: json.dumps(draw(st.one_of(
                    st.lists(st.integers(), max_size=3), st.integers(), text, st.none()))).encode(),
                "missing": lambda: (lambda gone: json.dumps(
                    {k: v for k, v in record.items() if k != gone}).encode())(
                    draw(st.sampled_from(list(record)))),
                "title_type": lambda: json.dumps(dict(record, **{draw(st.sampled_from(
                    ["title", "text"])): draw(st.one_of(st.integers(), st.none(),
                                                        st.lists(text, max_size=2)))})).encode(),
                "id_type": lambda: json.dumps(dict(record, id=draw(st.one_of(
                    st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
                    st.dictionaries(text, text, max_size=1))))).encode(),
                "empty_id": lambda: json.dumps(dict(record, id=draw(
                    st.sampled_from(["", " ", "\t"])))).encode(),
                "surrogate": lambda: json.dumps(dict(record, text="\udc80" + body)).encode(),
                "not_utf8": lambda: dumped.encode("utf-8").replace(b'"text"', b'"te\xffxt"', 1),
                "too_long": lambda: json.dumps(dict(record, text="w " * SMALL_LIMIT)).encode(),
                "duplicate": lambda: json.dumps(dict(record, id=draw(
                    st.sampled_from(expected))[0])).encode(),
                "deep": lambda: b"[" * 100_000 if draw(st.booleans()) else
                b'{"id": "x", "title": ' + b"[" * 250 + b"]" * 250 + b', "text": "y"}',
            }[kind]()
        out.append(line + draw(st.sampled_from([b"\n", b"\r\n"])))
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip(b"\r\n")  # no newline at the end of the file
    return b"".join(out), expected, bad


def check_against_expectation(path, expected, bad, max_line_bytes=SMALL_LIMIT):
    """Strict reading fails at the first bad line; skipping keeps exactly the good ones."""
    if bad:
        with pytest.raises(PassageFileError) as err:
            PassageStore.from_file(path, max_words=None, max_line_bytes=max_line_bytes)
        assert err.value.line == bad[0], (str(err.value), bad)
        assert str(err.value).startswith(f"{path}:{bad[0]}: ")
    elif expected:
        store = PassageStore.from_file(path, max_words=None, max_line_bytes=max_line_bytes)
        assert [(p.id, p.title, p.text) for p in store] == expected

    skipped = SkippedLines(keep=3)
    if not expected:
        with pytest.raises(PassageFileError, match="no passages"):
            PassageStore.from_file(path, max_words=None, skip_bad_lines=True, skipped=skipped,
                                   max_line_bytes=max_line_bytes)
    else:
        store = PassageStore.from_file(path, max_words=None, skip_bad_lines=True,
                                       skipped=skipped, max_line_bytes=max_line_bytes)
        assert [(p.id, p.title, p.text) for p in store] == expected
    assert skipped.count == len(bad)
    assert [n for n, _ in skipped.first] == bad[:3]
    if bad:
        summary = skipped.summary()
        assert f"skipped {len(bad)} bad line" in summary and str(path) in summary
        assert f"line {bad[0]}: " in summary


@fuzz("passage JSONL", 300)
@given(jsonl_case())
def test_jsonl_names_the_first_bad_line_and_skipping_keeps_every_good_one(case):
    count("passage JSONL")
    data, expected, bad = case
    check_against_expectation(write(data, ".jsonl"), expected, bad)


BAD_TSV = ["columns", "empty_id", "not_utf8", "too_long", "duplicate", "stray_quote"]


def tsv_field(value: str, quote: bool) -> str:
    if quote or any(c in value for c in '\t\n\r"'):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def tsv_case(draw):
    """DPR-layout TSV (columns in any order, quoted fields spanning lines) with planted bad records."""
    order = draw(st.permutations(["id", "text", "title"]))
    out, expected, bad = ["\t".join(order) + "\n"], [], []
    line = 1
    records = draw(st.integers(0, 8))
    for i in range(records):
        kind = draw(st.sampled_from(["good"] * 6 + BAD_TSV))
        if kind == "duplicate" and not expected:
            kind = "good"
        if kind == "stray_quote" and i != records - 1:
            kind = "good"  # an unclosed quote swallows what follows: only last
        values = {"id": f"id-{i}", "title": draw(text), "text": draw(nonblank)}
        if kind == "empty_id":
            values["id"] = draw(st.sampled_from(["", " "]))
        if kind == "duplicate":
            values["id"] = draw(st.sampled_from(expected))[0]
        fields = [tsv_field(values[c], draw(st.booleans())) for c in order]
        if kind == "columns":
            fields = fields[:draw(st.integers(1, 2))] if draw(st.booleans()) else fields + ["x"]
        if kind == "stray_quote":
            fields[-1] = '"' + fields[-1].replace('"', "")  # never closed
        record = "\t".join(fields)
        if kind == "not_utf8":
            record_bytes = f"id-{i}\tbad \xff\tT".encode().replace(b"\xc3\xbf", b"\xc3(")
        elif kind == "too_long":
            record_bytes = ("id-x\t" + "w" * SMALL_LIMIT).encode()
        else:
            record_bytes = record.encode()
        if kind == "good" and len(record_bytes) > SMALL_LIMIT - 2:
            kind, record_bytes = "too_long", ("id-x\t" + "w" * SMALL_LIMIT).encode()
        start = line + 1
        line += record_bytes.count(b"\n") + 1
        if kind == "good":
            expected.append((values["id"], values["title"], values["text"].strip()))
        else:
            bad.append(start)
        out.append(record_bytes.decode("utf-8", "surrogateescape") + "\n")
    return "".join(out).encode("utf-8", "surrogateescape"), expected, bad


@fuzz("passage TSV", 300)
@given(tsv_case())
def test_tsv_names_the_first_bad_record_and_skipping_keeps_every_good_one(case):
    count("passage TSV")
    data, expected, bad = case
    check_against_expectation(write(data, ".tsv"), expected, bad)


# ---------------------------------------------------------------- passages: anything at all

def loads_or_names_line(path: Path, data: bytes):
    lines = data.count(b"\n") + 1
    for skip in (False, True):
        try:
            store = PassageStore.from_file(path, skip_bad_lines=skip, skipped=SkippedLines())
        except PassageFileError as e:
            assert str(e).startswith(str(path))
            assert e.line is None or 1 <= e.line <= lines
            if skip:
                assert e.line is None or path.suffix == ".tsv" and e.line == 1  # header only
        else:
            assert len(store) > 0 and all(p.id and p.text for p in store)


@fuzz("passage JSONL", 300)
@given(st.one_of(st.binary(max_size=400),
                 st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.dictionaries(st.sampled_from(["id", "title", "text", "x"]),
                                          st.one_of(text, st.integers(), st.none()), max_size=4),
                          max_size=5).map(lambda rows: "\n".join(map(json.dumps, rows)).encode())))
def test_any_bytes_as_jsonl(data):
    count("passage JSONL")
    loads_or_names_line(write(data, ".jsonl"), data)


@fuzz("passage TSV", 300)
@given(st.one_of(st.binary(max_size=400),
                 st.text(alphabet=st.sampled_from('ab "\t\n\r\x00é'), max_size=200)
                 .map(lambda t: ("id\ttext\ttitle\n" + t).encode())))
def test_any_bytes_as_tsv(data):
    count("passage TSV")
    loads_or_names_line(write(data, ".tsv"), data)


def test_one_huge_line_is_refused_in_bounded_memory(tmp_path):
    """64 MiB without a line break: refused after reading at most the line limit (8 MiB)."""
    from rag_dialogue.retrieval.passages import MAX_LINE_BYTES

    good = json.dumps({"id": "1", "title": "T", "text": "fine"}).encode() + b"\n"
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(good)
        for _ in range(64):
            f.write(b"x" * (1 << 20))
        f.write(b"\n" + good.replace(b'"1"', b'"2"'))
    tracemalloc.start()
    try:
        with pytest.raises(PassageFileError, match=r"huge.jsonl:2: line is longer than 8,388,608"):
            PassageStore.from_file(path)
        skipped = SkippedLines()
        store = PassageStore.from_file(path, skip_bad_lines=True, skipped=skipped)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.id for p in store] == ["1", "2"] and skipped.count == 1
    assert peak < 2 * MAX_LINE_BYTES + (4 << 20), peak


def test_unclosed_quote_in_a_huge_tsv_is_refused_in_bounded_memory(tmp_path):
    """A quote that never closes would read a DPR file to its end as one field: capped."""
    path = tmp_path / "psgs.tsv"
    with open(path, "w") as f:
        f.write('id\ttext\ttitle\n1\tfine\tT\n2\t"never closed\tT\n')
        for _ in range(400_000):  # ~60 MB of ordinary lines
            f.write("3\tsome ordinary passage text of a line\tTitle\n" * 4)
    tracemalloc.start()
    try:
        with pytest.raises(PassageFileError, match=r"psgs.tsv:3: malformed TSV record"):
            PassageStore.from_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20 and peak < path.stat().st_size / 2, peak


def test_reader_functions_keep_their_signature(tmp_path):
    """`_read_jsonl(path)` / `_read_tsv(path)` still work positionally (other modules call them)."""
    from rag_dialogue.retrieval.passages import _read_tsv

    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "title": "t", "text": "x"}\n')
    assert list(_read_jsonl(path)) == [(1, "1", "t", "x")]
    tsv = tmp_path / "p.tsv"
    tsv.write_text("id\ttext\ttitle\n1\tx\tt\n")
    assert list(_read_tsv(tsv)) == [(2, "1", "t", "x")]


def test_cli_skip_bad_lines_reports_at_the_end(tmp_path, tiny_encoder_dir, capsys):
    from rag_dialogue.cli import main

    rows = [json.dumps({"id": f"p{i}", "title": "T", "text": f"passage number {i}"})
            for i in range(12)]
    rows[2], rows[5] = '{"id": "p2", "title": "T"', "not json"
    rows += ["{}"] * 6  # eight bad lines in all: the report names the first five
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(rows) + "\n")
    args = ["index", "build", "--passages", str(path), "--out", str(tmp_path / "idx"),
            "--encoder", str(tiny_encoder_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: malformed JSON" in err and not (tmp_path / "idx").exists()

    assert main(args + ["--skip-bad-lines"]) == 0
    out, err = capsys.readouterr()
    assert "indexed 10 passages" in out
    assert err.rstrip().splitlines()[-7:] == [
        f"skipped 8 bad lines of {path}:",
        "  line 3: malformed JSON (Expecting ',' delimiter at column 26)",
        "  line 6: malformed JSON (Expecting value at column 1)",
        "  line 13: missing field(s): id, title, text",
        "  line 14: missing field(s): id, title, text",
        "  line 15: missing field(s): id, title, text",
        "  ... and 3 more",
    ]
