"""Passages on disk, read by row id: a JSONL file, a table of line offsets, a bounded cache.

An index directory keeps its passages as `passages.jsonl` (row i = index row i) and
`passages.offsets.npy` (int64 [N + 1]: byte offset of each line, then the file size).
`PassageFile` memory-maps the offsets and reads each line with pread, so 21M passages
cost the process 8 bytes a row of offsets (paged in as touched) and a cache of at most
`cache_size` parsed passages, not 21M Python objects.
"""

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from rag_dialogue.retrieval.passages import (
    Passage, PassageFileError, _split_records, reader_for)
from rag_dialogue.utils import atomic_path, sha256_file

if TYPE_CHECKING:
    from rag_dialogue.retrieval.index import DenseIndex

PASSAGES_FILE = "passages.jsonl"  # in an index directory: row i of the index is line i

OFFSETS_SUFFIX = ".offsets.npy"
DEFAULT_CACHE = 4096


def offsets_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + OFFSETS_SUFFIX)


def iter_passages(path, max_words: int | None = 100, *, skipped=None) -> Iterator[Passage]:
    """Stream the passages of a `.jsonl`/`.json` or DPR `.tsv` file, read and split exactly as
    `passages.read_passages` reads them (its parsers), without holding them in memory.

    With `skipped` (a `SkippedLines`), bad lines are recorded there and passed over;
    without, the first raises PassageFileError naming the file and line.
    """
    path = Path(path)
    reader = reader_for(path)
    yield from _split_records(path, reader(path, skipped=skipped), max_words, skipped)


def write_passages(passages: Iterable[Passage], path, source=None) -> int:
    """Write passages as JSONL plus its offsets table, each file atomically; return the count.

    `source` names the input in the error raised when there are no passages.
    """
    path = Path(path)
    offsets = [0]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for p in passages:
            line = json.dumps({"id": p.id, "title": p.title, "text": p.text},
                              ensure_ascii=False).encode("utf-8") + b"\n"
            f.write(line)
            offsets.append(offsets[-1] + len(line))
        if len(offsets) == 1:
            raise PassageFileError(source or path, None, "no passages in file")
        with atomic_path(offsets_path(path)) as tmp_offsets:
            np.save(tmp_offsets, np.asarray(offsets, dtype=np.int64), allow_pickle=False)
    return len(offsets) - 1


def build_offsets(path) -> np.ndarray:
    """Offsets of the non-empty lines of a JSONL file (for passage files without a table)."""
    offsets, position = [], 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                offsets.append(position)
            position += len(line)
    return np.asarray(offsets + [position], dtype=np.int64)


class PassageFile:
    """Read-only passages of a JSONL file by row: `store[i]` is a `Passage`.

    Lines are read with pread (no mapping of the file, whose touched pages would count
    as resident memory), the offsets table is memory-mapped; parsed passages are kept in
    an LRU cache of at most `cache_size` entries. A file without an offsets table (an
    index from an earlier version) gets one built in memory (8 bytes a passage).
    """

    def __init__(self, path, cache_size: int = DEFAULT_CACHE):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"passage file not found: {self.path}")
        table = offsets_path(self.path)
        size = self.path.stat().st_size
        if table.is_file():
            try:
                self.offsets = np.load(table, mmap_mode="r", allow_pickle=False)
            except ValueError as e:
                raise PassageFileError(table, None, f"unreadable offsets table ({e})") from None
        else:
            self.offsets = build_offsets(self.path)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or int(self.offsets[-1]) != size:
            raise PassageFileError(
                table, None, f"offsets table does not match {self.path.name} ({size} bytes); "
                "the passages were changed after the index was built: rebuild it")
        self._fd = os.open(self.path, os.O_RDONLY)
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        self._checksum = None

    @property
    def checksum(self) -> str:
        """sha256 of the file's bytes (computed once, on first use)."""
        if self._checksum is None:
            self._checksum = sha256_file(self.path)
        return self._checksum

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> Passage:
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"passage row {row} out of range [0, {len(self)})")
        hit = self._cache.get(row)
        if hit is not None:
            self._cache.move_to_end(row)
            return hit
        line = self._line(row)
        try:
            obj = json.loads(line)
            passage = Passage(str(obj["id"]), obj["title"], obj["text"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PassageFileError(self.path, None, f"row {row} is not a passage record; "
                                   "the file was changed after the index was built") from None
        if self.cache_size > 0:
            self._cache[row] = passage
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return passage

    def __iter__(self) -> Iterator[Passage]:
        # A sequential scan bypasses the cache so it does not evict the hot rows.
        with open(self.path, "rb") as f:
            for line in f:
                if line.strip():
                    obj = json.loads(line)
                    yield Passage(str(obj["id"]), obj["title"], obj["text"])

    def _line(self, row: int) -> bytes:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return os.pread(self._fd, end - start, start)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            self.close()

    def __getstate__(self):  # sent to another process: reopen there
        return {"path": str(self.path), "cache_size": self.cache_size}

    def __setstate__(self, state):
        self.__init__(state["path"], state["cache_size"])


def load_index_dir(index_dir, knobs: dict | None = None,
                   cache_size: int = DEFAULT_CACHE) -> tuple["DenseIndex", PassageFile]:
    """The index and passages of an index dir, refused with a clear error if they do not match."""
    from rag_dialogue.retrieval.index import DenseIndex, check_meta  # faiss: only when loading

    index_dir = Path(index_dir)
    index = DenseIndex.load(index_dir, knobs=knobs)
    passages_path = index_dir / PASSAGES_FILE
    if not passages_path.is_file():
        raise FileNotFoundError(f"index directory {index_dir} lacks {PASSAGES_FILE}")
    check_meta(index.meta, {"passages_sha256": sha256_file(passages_path)}, index_dir,
               hint=f"{PASSAGES_FILE} was changed after the index was built; rebuild it")
    store = PassageFile(passages_path, cache_size=cache_size)
    check_meta(index.meta, {"count": len(store)}, index_dir,
               hint=f"{PASSAGES_FILE} does not hold one passage per index row; rebuild it")
    return index, store
