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

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_dialogue.retrieval.passages import (
    PassageFileError, SkippedLines, _read_jsonl, read_passages)

FUZZ_COUNTS = {}  # reader -> inputs given; reported by conftest.pytest_terminal_summary


def fuzz(reader, max_examples):
    """hypothesis settings for one reader, counting the inputs it is given."""
    def decorate(test):
        wrapped = settings(max_examples=max_examples, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])(test)
        return wrapped
    return decorate


def count(reader):
    FUZZ_COUNTS[reader] = FUZZ_COUNTS.get(reader, 0) + 1


_SCRATCH = tempfile.TemporaryDirectory(prefix="fuzz-")


@pytest.fixture(scope="module", autouse=True)
def _scratch():
    yield
    _SCRATCH.cleanup()


def scratch_dir(prefix: str) -> Path:
    """A fresh folder per example (hypothesis runs many examples in one test call)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH.name))


def write(data: bytes, suffix: str) -> Path:
    folder = scratch_dir("input-")
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
            read_passages(path, max_words=None, max_line_bytes=max_line_bytes)
        assert err.value.line == bad[0], (str(err.value), bad)
        assert str(err.value).startswith(f"{path}:{bad[0]}: ")
    elif expected:
        store = read_passages(path, max_words=None, max_line_bytes=max_line_bytes)
        assert [(p.id, p.title, p.text) for p in store] == expected

    skipped = SkippedLines(keep=3)
    if not expected:
        with pytest.raises(PassageFileError, match="no passages"):
            read_passages(path, max_words=None, skip_bad_lines=True, skipped=skipped,
                                   max_line_bytes=max_line_bytes)
    else:
        store = read_passages(path, max_words=None, skip_bad_lines=True,
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
            store = read_passages(path, skip_bad_lines=skip, skipped=SkippedLines())
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
            read_passages(path)
        skipped = SkippedLines()
        store = read_passages(path, skip_bad_lines=True, skipped=skipped)
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
            read_passages(path)
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


# ---------------------------------------------------------------- any JSON value, and mutations

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8)


@st.composite
def mutated(draw, value):
    """`value` (a JSON tree) with up to three nodes replaced or deleted, at random places."""
    value = json.loads(json.dumps(value))
    for _ in range(draw(st.integers(0, 3))):
        node, path = value, []
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict) else
                                       list(range(len(node)))))
            path.append((node, key))
            node = node[key]
        if not path:
            continue
        parent, key = path[-1]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(json_values)
    return value


# ---------------------------------------------------------------- Wizard of Wikipedia JSON

def wow_episodes():
    from test_tasks_wow import episodes

    return list(episodes())


def read_with_parlai_teacher(data):
    """Every example ParlAI's WoW teacher (ours) gives for `data` as its train.json."""
    from parlai.core.build_data import mark_done
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    datapath = scratch_dir("wow-")
    folder = datapath / "wizard_of_wikipedia"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(data))
    (folder / "data.json").write_text(json.dumps(wow_episodes()))  # rare-word counts only
    mark_done(str(folder), "1.0")
    opt = ParlaiParser(True, False).parse_args(
        ["-t", "rag_dialogue.tasks.wizard_of_wikipedia.agents", "--datapath", str(datapath),
         "-dt", "train:evalmode"])
    teacher = create_task_agent_from_taskname(opt)[0]
    return folder / "train.json", [teacher.act() for _ in range(teacher.num_examples())]


@fuzz("WoW JSON", 120)
@given(st.data())
def test_wow_files_load_or_name_the_episode(data):
    """load_wow_file, then ParlAI's teacher on what it accepted: examples, or a
    WowDataError naming the file and the episode."""
    from rag_dialogue.tasks.wizard_of_wikipedia.agents import WowDataError, load_wow_file

    count("WoW JSON")
    good = wow_episodes()
    episodes = data.draw(st.lists(st.one_of(
        st.sampled_from(good), st.sampled_from(good).flatmap(mutated)), max_size=4))
    raw = json.dumps(episodes).encode()
    if data.draw(st.booleans()):  # cut short, or bytes changed
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut] + data.draw(st.binary(max_size=3))
    path = write(raw, ".json")
    try:
        loaded = load_wow_file(path)
    except WowDataError as e:
        assert str(e).startswith(str(path))
        assert e.episode is None or 0 <= e.episode <= len(episodes) + 3  # (+ appended bytes)
        return
    assert loaded == episodes
    count("WoW JSON into ParlAI's teacher")
    try:
        teacher_file, messages = read_with_parlai_teacher(loaded)
    except WowDataError as e:
        assert "train.json: episode " in str(e), e
        return
    assert all(isinstance(m.get("text"), str) for m in messages)


# ---------------------------------------------------------------- YAML presets

yaml_keys = st.one_of(st.sampled_from(["model", "task", "n_docs", "learningrate", "base",
                                       "rag_dialogue_data", "index_dir"]), text)


@st.composite
def preset_text(draw):
    """YAML a person might write (mappings of options, lists, anchors, dates), damaged at random."""
    import yaml

    body = draw(st.dictionaries(yaml_keys, json_values, max_size=5))
    if "base" in body and draw(st.booleans()):
        body["base"] = draw(st.sampled_from(["embedded_base", "wow_bart_large_base", "nope",
                                             "/no/such/dir/x.yaml"]))
    out = yaml.safe_dump(body, allow_unicode=draw(st.booleans()))
    extra = draw(st.sampled_from(["", "when: 2024-01-02\n", "a: &x [1, 2]\nb: *x\n",
                                  "? [complex, key]\n: 1\n", "1: int key\n", "n: .nan\n",
                                  "x: !!python/object:os.system {}\n", "- list item\n",
                                  "bad: [unclosed\n", "\tindented: tab\n", "k: v\nk: w\n",
                                  "deep: " + "[" * 2000 + "]" * 2000 + "\n"]))
    out += extra
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(out)))
        out = out[:cut] + draw(text)
    return out.encode("utf-8", "surrogatepass")


def preset_loads_or_names_file(path: Path):
    from rag_dialogue import presets

    try:
        opts = presets.load(str(path))
    except (ValueError, FileNotFoundError) as e:
        assert str(e).startswith(str(path)), e
        return None
    assert all(isinstance(k, str) for k in opts)
    out = path.with_suffix(".opt")
    presets.write_opt_file(str(path), out)  # what ParlAI will read: plain JSON
    assert json.loads(out.read_text()) == presets.parlai_options(opts)
    return opts


@fuzz("YAML preset", 300)
@given(st.one_of(preset_text(), st.binary(max_size=200)))
def test_presets_load_or_name_the_file(data):
    count("YAML preset")
    preset_loads_or_names_file(write(data, ".yaml"))


def test_preset_errors_say_line_and_field(tmp_path):
    from rag_dialogue import presets

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\nn_docs: [1,\nlr: 2\n")
    with pytest.raises(ValueError, match=r"bad.yaml:3: not valid YAML"):
        presets.load(str(bad))
    bad.write_text("model: x\nstarted: 2024-01-02\n")
    with pytest.raises(ValueError, match=r"bad.yaml: field 'started' must be a string, number"):
        presets.load(str(bad))
    bad.write_text("base: [a, b]\n")
    with pytest.raises(ValueError, match=r"bad.yaml: field 'base' must name a preset"):
        presets.load(str(bad))
    bad.write_text("x: !!python/object/apply:os.system [touch owned]\n")
    with pytest.raises(ValueError, match=r"bad.yaml:1: not valid YAML"):
        presets.load(str(bad))
    assert not Path("owned").exists()


# ---------------------------------------------------------------- index metadata

@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """A real 3-vector exact index and its meta.json, to damage."""
    import numpy as np

    from rag_dialogue.retrieval.index import DenseIndex

    out = tmp_path_factory.mktemp("meta") / "idx"
    meta = {"encoder": "enc", "pooling": "mean", "passages_sha256": "0" * 64}
    DenseIndex.build(np.eye(3, 4, dtype=np.float32), "exact", meta).save(out)
    return out


@fuzz("index meta.json", 300)
@given(data=st.data())
def test_index_meta_loads_or_names_the_file(small_index, data):
    import shutil

    from rag_dialogue.retrieval.index import META_FILE, DenseIndex

    count("index meta.json")
    good = json.loads((small_index / META_FILE).read_text())
    meta = data.draw(st.one_of(mutated(good), json_values, st.just(good)))
    raw = json.dumps(meta).encode()
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut] + data.draw(st.binary(max_size=4))
    folder = scratch_dir("idx-") / "idx"
    shutil.copytree(small_index, folder)
    (folder / META_FILE).write_bytes(raw)
    try:
        index = DenseIndex.load(folder)
    except ValueError as e:
        assert f"{folder}" in str(e), e
        return
    assert index.meta["count"] == 3 and index.meta["dim"] == 4
    scores, rows = index.search(np.ones((1, 4), dtype="float32"), 2)
    assert rows.shape == (1, 2)


# ---------------------------------------------------------------- chat input

@fuzz("chat input", 300)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode)),
                max_size=6),
       st.sampled_from([b"\n", b"\r\n"]))
def test_chat_lines_are_text_and_bounded(chunks, newline):
    """Whatever arrives on a pipe, `input()` gets text lines of bounded length, one per line."""
    import io
    import sys

    from rag_dialogue.chat import BoundedLines

    count("chat input")
    data = newline.join(chunks)
    notes = io.StringIO()
    reader = BoundedLines(io.BytesIO(data), limit=64, notes=notes)
    lines, old = [], sys.stdin
    sys.stdin = reader
    try:
        while True:
            try:
                lines.append(input())
            except EOFError:
                break
    finally:
        sys.stdin = old
    physical = data.split(b"\n")
    if physical[-1] == b"":
        physical.pop()
    assert len(lines) == len(physical)
    for got, raw in zip(lines, physical):
        assert len(got.encode("utf-8", "surrogatepass")) <= 3 * 64
        expect = raw if len(raw) <= 64 else raw[:64]
        assert got == expect.decode("utf-8", "replace").removesuffix("\n")
    assert notes.getvalue().count("message cut") == sum(len(r) > 64 for r in physical)


def test_a_huge_chat_line_is_cut_in_bounded_memory():
    import io

    from rag_dialogue.chat import MAX_MESSAGE_BYTES, BoundedLines

    data = b"word " * (12 << 20) + b"\nnext\n"  # 60 MiB on one line
    reader = BoundedLines(io.BytesIO(data), notes=io.StringIO())
    tracemalloc.start()
    try:
        first, second = reader.readline(), reader.readline()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(first) == MAX_MESSAGE_BYTES + 1 and second == "next\n"
    assert peak < 8 * MAX_MESSAGE_BYTES, peak
