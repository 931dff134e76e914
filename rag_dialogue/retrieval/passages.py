"""Passage files: reads JSONL or DPR `psgs_w100.tsv` files and splits long documents."""

import csv
import functools
import itertools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path


JSONL_SUFFIXES = (".jsonl", ".json")
TSV_SUFFIXES = (".tsv",)
FIELDS = ("id", "title", "text")
# The longest line a reader takes in. DPR's 100-word passages are under 2 KB and a
# whole Wikipedia article under 1 MB; a longer line is a file of another kind (or no
# line breaks at all), and reading it whole could take all the memory.
MAX_LINE_BYTES = 8 << 20

# A sentence ends at . ! or ? followed by whitespace; good enough to avoid cutting
# mid-sentence in Wikipedia prose, and it never affects the word limit.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def document_text(passage: Passage) -> str:
    """The single string a passage is encoded as: `title. text`.

    One string rather than DPR's (title, text) pair because the default encoder
    (all-MiniLM-L6-v2) was trained on single sentences; every index uses this format.
    """
    return f"{passage.title}. {passage.text}" if passage.title else passage.text


class PassageFileError(ValueError):
    """A passage file that cannot be read; the message names the file and line."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class SkippedLines:
    """The bad lines a reader passed over (`--skip-bad-lines`): how many, and the first few."""

    def __init__(self, keep: int = 5):
        self.count, self.first, self.keep = 0, [], keep
        self.path = None

    def add(self, line: int, message: str):
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append((line, message))

    def __bool__(self) -> bool:
        return self.count > 0

    def summary(self) -> str:
        """One line per shown skip, e.g. `skipped 3 bad lines of f.jsonl: ...`."""
        if not self.count:
            return f"{self.path}: no bad lines"
        s = "" if self.count == 1 else "s"
        lines = [f"skipped {self.count} bad line{s} of {self.path}:"]
        lines += [f"  line {n}: {message}" for n, message in self.first]
        if self.count > len(self.first):
            lines.append(f"  ... and {self.count - len(self.first)} more")
        return "\n".join(lines)


def split_into_passages(text: str, max_words: int = 100) -> list[str]:
    """Split `text` into chunks of at most `max_words` words, at sentence ends when possible.

    Sentences are packed greedily; a sentence longer than `max_words` is cut into
    `max_words`-word pieces. Whitespace is normalised to single spaces. Empty text -> [].
    """
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    chunks, current = [], []
    for sentence in _SENTENCE_END.split(text.strip()):
        words = sentence.split()
        while len(words) > max_words:  # a sentence that cannot fit anywhere whole
            if current:
                chunks.append(current)
                current = []
            chunks.append(words[:max_words])
            words = words[max_words:]
        if len(current) + len(words) > max_words:
            chunks.append(current)
            current = []
        current.extend(words)
    if current:
        chunks.append(current)
    return [" ".join(c) for c in chunks if c]


def reader_for(path: Path):
    """The record reader (`_read_jsonl` or `_read_tsv`) for a passage file, by its suffix."""
    if not path.is_file():
        raise FileNotFoundError(f"passage file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl
    if suffix in TSV_SUFFIXES:
        return _read_tsv
    raise PassageFileError(path, None, f"unknown passage file type {suffix!r}; "
                           f"use one of {', '.join(JSONL_SUFFIXES + TSV_SUFFIXES)}")


def read_passages(path, max_words: int | None = 100, *, skip_bad_lines: bool = False,
                  skipped: SkippedLines | None = None, max_line_bytes: int = MAX_LINE_BYTES) -> list[Passage]:
    """Every passage of a `.jsonl`/`.json` (one {"id","title","text"} object per line) or DPR
    `.tsv` file, in order (row i of an index built from it is item i). The index itself
    reads its passages by row from disk (`store.PassageFile`); this list is for small files.

    Texts longer than `max_words` words are split; the first piece keeps the id,
    later pieces get `<id>_1`, `<id>_2`, ... and all keep the title. Records with
    empty text are skipped. `max_words=None` keeps texts whole.

    A bad line (malformed, missing a field, a duplicate id, not UTF-8, longer than
    `max_line_bytes`) raises PassageFileError naming the file and line. With
    `skip_bad_lines`, bad lines are passed over and recorded in `skipped` (or,
    without one, reported on stderr once the file is read); nothing is dropped
    silently.
    """
    path = Path(path)
    reader = reader_for(path)
    report = skipped is None
    if skip_bad_lines:
        skipped = SkippedLines() if skipped is None else skipped
        skipped.path = str(path)
    else:
        skipped = None
    passages = list(_split_records(path, reader(path, skipped=skipped, max_line_bytes=max_line_bytes),
                                   max_words, skipped))
    if skipped and report:
        print(skipped.summary(), file=sys.stderr)
    if not passages:
        raise PassageFileError(path, None, "no passages in file" + (
            f" ({skipped.count} bad line{'s' * (skipped.count > 1)} skipped)" if skipped else ""))
    return passages


def _lines(path: Path, max_line_bytes: int):
    """Yield (line number, text) for each line of a UTF-8 file, where text is a
    _BadLine instead for a line longer than `max_line_bytes` or not UTF-8.

    Read as bytes and decoded line by line, so a bad byte is reported on its own line,
    and at most `max_line_bytes` of a line are held in memory: a file of one endless
    line cannot fill it. A UTF-8 byte-order mark is dropped. Line ends are kept (csv
    needs them to tell quoted newlines).
    """
    with open(path, "rb") as f:
        for n in itertools.count(1):
            raw = f.readline(max_line_bytes + 1)
            if not raw:
                return
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # pass over the rest, 1 MiB at a time
                    raw = f.readline(1 << 20)
                yield n, _BadLine(n, f"line is longer than {max_line_bytes:,} bytes (a passage "
                                     "file holds one passage per line)")
                continue
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield n, _BadLine(n, f"not UTF-8 text (byte {e.start + 1} of the line)")


class _BadLine(ValueError):
    """A line a reader could not take in; becomes a PassageFileError or a skipped line."""

    def __init__(self, line: int, message: str):
        self.line, self.message = line, message
        super().__init__(message)


def _check_string(value, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field {field} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # json.loads lets "\ud800" through; it cannot be written back
        raise ValueError(f"field {field} holds an unpaired surrogate (not valid Unicode)") \
            from None
    return value


def _jsonl_record(line: str):
    """(id, title, text) of one JSONL line; ValueError says what is wrong with it."""
    try:
        obj = json.loads(line.rstrip("\r\n"))  # so an error at the end says this line's column
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("malformed JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with id, title, text")
    missing = [k for k in FIELDS if k not in obj]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    pid = obj["id"]
    if isinstance(pid, bool) or not isinstance(pid, (str, int)):
        raise ValueError(f"field id must be a string or an integer, got {type(pid).__name__}")
    pid = _check_string(str(pid), "id")
    if not pid.strip():
        raise ValueError("field id is empty")
    return pid, _check_string(obj["title"], "title"), _check_string(obj["text"], "text")


def _tsv_record(row: list, header: list, columns: dict):
    if len(row) != len(header):
        raise ValueError(f"expected {len(header)} tab-separated columns, got {len(row)}")
    pid = row[columns["id"]]
    if not pid.strip():
        raise ValueError("column id is empty")
    return pid, row[columns["title"]], row[columns["text"]]


def _records(path: Path, rows, skipped: "SkippedLines | None"):
    """(line, id, title, text) from (line, parse) pairs; a parse's ValueError becomes a
    PassageFileError naming the line or, with `skipped`, a recorded skip."""
    for n, parse in rows:
        try:
            yield (n, *parse())
        except ValueError as e:
            if skipped is None:
                raise PassageFileError(path, n, str(e)) from None
            skipped.add(n, str(e))


def _fail(error: Exception):
    raise error


def _read_jsonl(path: Path, *, skipped: "SkippedLines | None" = None,
                max_line_bytes: int = MAX_LINE_BYTES):
    """Yield (line number, id, title, text) from a JSONL file.

    A bad line raises PassageFileError naming it or, with `skipped` given, is recorded
    there and passed over.
    """
    rows = ((n, functools.partial(_fail, line) if isinstance(line, _BadLine)
             else functools.partial(_jsonl_record, line))
            for n, line in _lines(path, max_line_bytes)
            if isinstance(line, _BadLine) or line.strip())
    yield from _records(path, rows, skipped)


def _read_tsv(path: Path, *, skipped: "SkippedLines | None" = None,
              max_line_bytes: int = MAX_LINE_BYTES):
    """Yield (line number, id, title, text) from DPR's layout: header `id<TAB>text<TAB>title`.

    DPR quotes texts and doubles inner quotes (""), csv's default dialect; a quoted
    field may span lines, up to `max_line_bytes` in all. A bad record raises
    PassageFileError naming its first line or, with `skipped` given, is recorded there
    and passed over; a bad header always raises.
    """
    yield from _records(path, _tsv_rows(path, max_line_bytes), skipped)


def _tsv_rows(path: Path, max_line_bytes: int):
    """(first line of the record, parse) for each record of a DPR TSV file."""
    bad, physical = [], [0]  # lines the csv reader was not given; the last line it read

    def text_lines():
        for n, line in _lines(path, max_line_bytes):
            physical[0] = n
            if isinstance(line, _BadLine):
                bad.append(line)
                line = "\n"  # ends the record (or is a newline inside a quoted field)
            yield line

    limit = csv.field_size_limit()
    csv.field_size_limit(max_line_bytes)  # a never-closed quote stops here, not at EOF
    try:
        reader = csv.reader(text_lines(), delimiter="\t", strict=True)
        try:
            header = next(reader, None)
        except csv.Error as e:
            raise PassageFileError(path, 1, f"unreadable header ({e})") from None
        if bad or header is None:
            if bad:
                raise PassageFileError(path, 1, f"unreadable header ({bad[0].message})")
            return
        columns = {name.strip(): i for i, name in enumerate(header)}
        missing = [k for k in FIELDS if k not in columns]
        if missing:
            raise PassageFileError(path, 1, f"header lacks column(s) {', '.join(missing)}; "
                                   "expected `id<TAB>text<TAB>title`")
        while True:
            start = physical[0] + 1
            try:
                row = next(reader)
            except StopIteration:
                row = None
            except csv.Error as e:
                # a quoted field that never closed: name the line where its record began
                row = _BadLine(start, f"malformed TSV record ({e})")
            for error in bad:
                yield error.line, functools.partial(_fail, error)
            bad.clear()
            if row is None:
                return
            if isinstance(row, _BadLine):
                yield start, functools.partial(_fail, row)
            elif row:  # [] is a blank line
                yield start, functools.partial(_tsv_record, row, header, columns)
    finally:
        csv.field_size_limit(limit)


def _split_records(path: Path, records, max_words: int | None,
                   skipped: SkippedLines | None = None):
    seen = set()
    for n, pid, title, text in records:
        pieces = [text.strip()] if max_words is None else split_into_passages(text, max_words)
        ids = [pid if i == 0 else f"{pid}_{i}" for i in range(len([p for p in pieces if p]))]
        dup = next((i for i in ids if i in seen), None)
        if dup is not None:
            if skipped is None:
                raise PassageFileError(path, n, f"duplicate passage id {dup!r}")
            skipped.add(n, f"duplicate passage id {dup!r}")
            continue
        seen.update(ids)
        for sub_id, piece in zip(ids, (p for p in pieces if p)):
            yield Passage(sub_id, title, piece)
