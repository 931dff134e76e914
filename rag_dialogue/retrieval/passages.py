"""Passage store: reads JSONL or DPR `psgs_w100.tsv` files and splits long documents."""

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rag_dialogue.utils import atomic_path, sha256_file

JSONL_SUFFIXES = (".jsonl", ".json")
TSV_SUFFIXES = (".tsv",)
FIELDS = ("id", "title", "text")

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


class PassageStore:
    """Passages in a fixed order: row i of the index is `store[i]`.

    Kept as three parallel lists rather than one object per passage, which matters
    for the 21M passages of DPR's Wikipedia.
    """

    def __init__(self, passages: Iterable[Passage] = (), checksum: str = ""):
        self._ids, self._titles, self._texts = [], [], []
        for p in passages:
            self._ids.append(p.id)
            self._titles.append(p.title)
            self._texts.append(p.text)
        self.checksum = checksum  # sha256 of the source file's bytes ("" if built in memory)

    @classmethod
    def from_file(cls, path, max_words: int | None = 100) -> "PassageStore":
        """Read a `.jsonl`/`.json` (one {"id","title","text"} object per line) or DPR `.tsv` file.

        Texts longer than `max_words` words are split; the first piece keeps the id,
        later pieces get `<id>_1`, `<id>_2`, ... and all keep the title. Records with
        empty text are skipped. `max_words=None` keeps texts whole.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"passage file not found: {path}")
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            records = _read_jsonl(path)
        elif suffix in TSV_SUFFIXES:
            records = _read_tsv(path)
        else:
            raise PassageFileError(
                path, None, f"unknown passage file type {suffix!r}; "
                f"use one of {', '.join(JSONL_SUFFIXES + TSV_SUFFIXES)}")
        store = cls(_split_records(path, records, max_words), checksum=sha256_file(path))
        if not len(store):
            raise PassageFileError(path, None, "no passages in file")
        return store

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, row: int) -> Passage:
        return Passage(self._ids[row], self._titles[row], self._texts[row])

    def __iter__(self) -> Iterator[Passage]:
        return map(Passage, self._ids, self._titles, self._texts)

    def save_jsonl(self, path):
        """Write the passages as JSONL (`id`, `title`, `text`), atomically."""
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for p in self:
                f.write(json.dumps({"id": p.id, "title": p.title, "text": p.text},
                                   ensure_ascii=False) + "\n")


def _read_jsonl(path: Path):
    """Yield (line number, id, title, text) from a JSONL file."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise PassageFileError(path, n, f"malformed JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise PassageFileError(path, n, "expected a JSON object with id, title, text")
            missing = [k for k in FIELDS if k not in obj]
            if missing:
                raise PassageFileError(path, n, f"missing field(s): {', '.join(missing)}")
            if not isinstance(obj["text"], str) or not isinstance(obj["title"], str):
                raise PassageFileError(path, n, "fields title and text must be strings")
            yield n, str(obj["id"]), obj["title"], obj["text"]


def _read_tsv(path: Path):
    """Yield (line number, id, title, text) from DPR's layout: header `id<TAB>text<TAB>title`."""
    with open(path, encoding="utf-8", newline="") as f:
        # DPR quotes texts and doubles inner quotes ("") -- csv's default dialect.
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None:
            return
        columns = {name.strip(): i for i, name in enumerate(header)}
        missing = [k for k in FIELDS if k not in columns]
        if missing:
            raise PassageFileError(path, 1, f"header lacks column(s) {', '.join(missing)}; "
                                   "expected `id<TAB>text<TAB>title`")
        for row in reader:
            n = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise PassageFileError(
                    path, n, f"expected {len(header)} tab-separated columns, got {len(row)}")
            yield n, row[columns["id"]], row[columns["title"]], row[columns["text"]]


def _split_records(path: Path, records, max_words: int | None):
    seen = set()
    for n, pid, title, text in records:
        pieces = [text.strip()] if max_words is None else split_into_passages(text, max_words)
        for i, piece in enumerate(p for p in pieces if p):
            sub_id = pid if i == 0 else f"{pid}_{i}"
            if sub_id in seen:
                raise PassageFileError(path, n, f"duplicate passage id {sub_id!r}")
            seen.add(sub_id)
            yield Passage(sub_id, title, piece)
