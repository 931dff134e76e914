"""FAISS inner-product index over passage embeddings, with metadata checked on load."""

import json
import math
import os
import shutil
from pathlib import Path

import faiss
import numpy as np

from rag_dialogue.utils import atomic_path

# Named kinds; any other string is taken as a FAISS index_factory string.
INDEX_TYPES = ("exact", "hnsw_flat", "hnsw_sq8", "ivfpq")
FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: no stored vectors, no search knobs in meta.json
INDEX_FILE, META_FILE, VECTORS_FILE = "index.faiss", "meta.json", "vectors.npy"
REQUIRED_META = ("encoder", "pooling", "passages_sha256")
# What a loaded index's users read from its meta.json, with the type each must have.
META_TYPES = {"encoder": str, "pooling": str, "passages_sha256": str, "dim": int,
              "count": int, "index_type": str}
OPTIONAL_META_TYPES = {"factory": str, "search": dict}  # written from format 2 on

HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 200, 128
IVF_NPROBE, REFINE_K_FACTOR = 16, 4
# k-means of the IVF lists trains on a fixed random sample of this many vectors per list
# (faiss wants >= 39; more costs time and barely moves the centroids).
TRAIN_PER_LIST, TRAIN_SEED = 64, 0
SEARCH_KNOBS = ("nprobe", "ef_search", "k_factor")


class IndexMismatchError(ValueError):
    """An index whose metadata does not match what the caller needs (encoder, dim, ...)."""

    def __init__(self, field: str, actual, expected, where="", hint=None):
        self.field, self.actual, self.expected = field, actual, expected
        hint = hint or f"rebuild it with `rag-dialogue index build` or use a matching {field}"
        super().__init__(
            f"index {where}has {field}={actual!r}, but {expected!r} is expected; {hint}")


def check_meta(meta: dict, expect: dict | None, where="", hint=None):
    """Raise IndexMismatchError on the first field of `expect` that `meta` does not match."""
    for field, expected in (expect or {}).items():
        if meta.get(field) != expected:
            raise IndexMismatchError(field, meta.get(field), expected,
                                     f"{where} " if where else "", hint)


def ensure_replaceable(directory):
    """Refuse to replace anything at `directory` except an earlier index (or an empty dir)."""
    directory = Path(directory)
    if directory.exists() and not (directory.is_dir() and (
            (directory / META_FILE).is_file() or not any(directory.iterdir()))):
        raise ValueError(f"refusing to replace {directory}: it exists and is not an index "
                         f"directory (no {META_FILE}); choose another output path")


def _factory(index_type: str, n: int, d: int) -> tuple[str, dict]:
    """FAISS index_factory string and default search knobs for `n` vectors of dimension `d`.

    Knobs: `nprobe` (IVF lists visited), `ef_search` (HNSW candidate list), `k_factor`
    (candidates re-ranked exactly with the stored vectors, per result; 1 = none).
    """
    if index_type == "exact":
        return "Flat", {}
    if index_type == "hnsw_flat":
        return f"HNSW{HNSW_M}", {"ef_search": HNSW_EF_SEARCH}
    if index_type == "hnsw_sq8":
        return f"HNSW{HNSW_M}_SQ8", {"ef_search": HNSW_EF_SEARCH, "k_factor": REFINE_K_FACTOR}
    if index_type == "ivfpq":
        # k-means needs at least as many points as centroids (faiss wants 39x for good
        # centroids): shrink the IVF lists and PQ codebooks to what the corpus can train.
        if n < 16:
            raise ValueError(f"index type ivfpq needs at least 16 passages to train, got {n}; "
                             "use --index-type exact")
        nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
        nbits = min(8, max(4, int(math.log2(n / 39))))
        m = max(k for k in range(1, max(1, d // 4) + 1) if d % k == 0)  # sub-quantizers divide d
        return f"IVF{nlist},PQ{m}x{nbits}", {"nprobe": min(nlist, IVF_NPROBE),
                                             "k_factor": REFINE_K_FACTOR}
    if not index_type or index_type.islower():  # a misspelt kind, not a factory string
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)} or a FAISS "
                         f"factory string such as 'IVF1024,PQ48' or 'HNSW32', got {index_type!r}")
    return index_type, {"k_factor": 1 if index_type == "Flat" else REFINE_K_FACTOR}


def check_index_type(index_type: str, d: int, n: int = 10**6):
    """Fail early (before encoding) on a kind or factory string FAISS cannot make for dim `d`."""
    spec, _ = _factory(index_type, max(n, 16), d)
    try:
        faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"index type {index_type!r}: FAISS cannot make it for dimension {d} "
                         f"({str(e).strip().splitlines()[-1][-200:]})") from None


def _set_knobs(index: faiss.Index, knobs: dict):
    """Apply the knobs that `index` has (nprobe to IVF, efSearch to HNSW)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and knobs.get("nprobe"):
        ivf.nprobe = int(knobs["nprobe"])
    hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
    if hnsw is not None and knobs.get("ef_search"):
        hnsw.efSearch = int(knobs["ef_search"])


def check_knobs(knobs: dict | None) -> dict:
    """Search knobs with None dropped; a non-positive or unknown one is refused by name."""
    out = {}
    for name, value in (knobs or {}).items():
        if value is None:
            continue
        if name not in SEARCH_KNOBS:
            raise ValueError(f"unknown search knob {name!r}; known: {', '.join(SEARCH_KNOBS)}")
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"search knob {name} must be an integer >= 1, got {value!r}")
        out[name] = value
    return out


class VectorRows:
    """Rows of a float32 [N, D] `.npy` file, read on demand with pread.

    Not memory-mapped: a mapping would count every page it touches (and the pages the
    kernel maps around them) as the process's resident memory, up to the whole file.
    Read this way, the process holds only the rows it asked for; the operating system's
    page cache keeps the hot ones.
    """

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{self.path}: expected a C-ordered [N, D] array, got shape {shape}")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        if self.path.stat().st_size != self.offset + self.shape[0] * self.row_bytes:
            raise ValueError(f"{self.path}: file size does not match its header (truncated?)")
        self.fd = os.open(self.path, os.O_RDONLY)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        view = memoryview(out).cast("B")
        for i, row in enumerate(rows.tolist()):
            n = os.preadv(self.fd, [view[i * self.row_bytes:(i + 1) * self.row_bytes]],
                          self.offset + row * self.row_bytes)
            if n != self.row_bytes:
                raise ValueError(f"{self.path}: short read at row {row}")
        return out

    def __del__(self):
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


def _training_sample(emb: np.ndarray, nlist: int) -> np.ndarray:
    """All of `emb`, or for an IVF index with many vectors a fixed random sample (same rows every build)."""
    cap = max(TRAIN_PER_LIST * nlist, 10_000)
    if not nlist or len(emb) <= cap:
        return emb
    rows = np.sort(np.random.default_rng(TRAIN_SEED).choice(len(emb), cap, replace=False))
    return emb[rows]


class DenseIndex:
    """A FAISS index (inner product) plus its metadata; row i is passage i of the store.

    A compressed index also keeps the full vectors (`vectors.npy`, memory-mapped when
    read by row when loaded): its candidates are re-ranked by exact inner product with them
    (`k_factor` candidates per result), and `reconstruct` returns them, so scores and the
    vectors a trained query is compared with are exact whatever the kind. The vectors
    stay on disk; only the rows that searches touch are read.
    """

    def __init__(self, index: faiss.Index, meta: dict, vectors: np.ndarray | None = None):
        self.index = index
        self.meta = meta
        self.vectors = vectors  # [N, D] float32 array or VectorRows; None for exact indexes
        self.knobs = dict(meta.get("search", {}))
        _set_knobs(self.index, self.knobs)

    def set_knobs(self, **knobs):
        """Change search knobs (nprobe, ef_search, k_factor) of a built or loaded index."""
        self.knobs.update(check_knobs(knobs))
        self.meta["search"] = dict(self.knobs)
        _set_knobs(self.index, self.knobs)

    @classmethod
    def build(cls, embeddings: np.ndarray, index_type: str, meta: dict,
              knobs: dict | None = None) -> "DenseIndex":
        """Train (if needed) and fill an index of `index_type` with `embeddings` [N, D].

        `index_type` is a named kind (INDEX_TYPES) or a FAISS factory string. `meta` must
        give encoder, pooling and passages_sha256; format, dim, count, index_type,
        factory and search (the knobs: the kind's defaults updated by `knobs`) are filled
        in from the arguments.
        """
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or not len(emb):
            raise ValueError(f"embeddings must be a non-empty [N, D] array, got shape {emb.shape}")
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ValueError(f"index metadata lacks {', '.join(missing)}")
        n, d = emb.shape
        if meta.get("dim", d) != d:
            raise ValueError(f"metadata says dim={meta['dim']} but embeddings have {d}")
        spec, defaults = _factory(index_type, n, d)
        check_index_type(index_type, d, n)
        index = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
        hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = max(hnsw.efConstruction, HNSW_EF_CONSTRUCTION)
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None and hasattr(faiss.downcast_index(ivf), "do_polysemous_training"):
            # Polysemous codes serve Hamming pre-filtering, which we do not use; training
            # them costs seconds even on tiny corpora.
            faiss.downcast_index(ivf).do_polysemous_training = False
        if not index.is_trained and n < getattr(ivf, "nlist", 0):
            raise ValueError(f"index type {index_type!r} has {ivf.nlist} IVF lists but only "
                             f"{n} vectors to train them; use fewer lists or --index-type exact")
        index.train(_training_sample(emb, getattr(ivf, "nlist", 0)))
        index.add(emb)
        search = {**defaults, **check_knobs(knobs)}
        meta = {**meta, "format": FORMAT, "dim": d, "count": n, "index_type": index_type,
                "factory": spec, "search": search}
        return cls(index, meta, None if spec == "Flat" else emb)

    def write(self, directory):
        """Write index.faiss, meta.json (and vectors.npy) into an existing directory (not atomic; see save)."""
        directory = Path(directory)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        if isinstance(self.vectors, VectorRows):  # a loaded index, saved again
            shutil.copyfile(self.vectors.path, directory / VECTORS_FILE)
        elif self.vectors is not None:
            np.save(directory / VECTORS_FILE, self.vectors, allow_pickle=False)
        (directory / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n")

    def save(self, directory):
        """Save to `directory` atomically: it appears complete or not at all."""
        ensure_replaceable(directory)
        with atomic_path(directory) as tmp:
            tmp.mkdir()
            self.write(tmp)

    @staticmethod
    def read_meta(directory) -> dict:
        """The checked metadata of an index directory, without loading the index."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"index directory not found: {directory}")
        missing = [f for f in (INDEX_FILE, META_FILE) if not (directory / f).is_file()]
        if missing:
            raise FileNotFoundError(f"index directory {directory} lacks {', '.join(missing)}")
        if (directory / META_FILE).stat().st_size > 1 << 20:  # a few hundred bytes when written here
            raise ValueError(f"{directory / META_FILE}: larger than 1 MiB, not index metadata")
        try:
            meta = json.loads((directory / META_FILE).read_bytes().decode("utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{directory / META_FILE}: malformed JSON ({e.msg} at line "
                             f"{e.lineno})") from None
        except (UnicodeDecodeError, RecursionError) as e:
            raise ValueError(f"{directory / META_FILE}: malformed JSON ({e})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{directory / META_FILE}: expected a JSON object")
        if meta.get("format") not in READABLE_FORMATS:
            raise ValueError(f"{directory / META_FILE}: unsupported index format "
                             f"{meta.get('format')!r} (this version reads "
                             f"{', '.join(map(str, READABLE_FORMATS))})")
        for field, kind in META_TYPES.items():
            value = meta.get(field)
            # index_type: a named kind or a FAISS factory string (checked when loaded)
            if not isinstance(value, kind) or isinstance(value, bool) or \
                    field == "index_type" and not value.strip():
                raise ValueError(f"{directory / META_FILE}: field {field!r} is missing or "
                                 f"invalid ({value!r:.60}); rebuild the index")
        for field, kind in OPTIONAL_META_TYPES.items():
            if field in meta and not isinstance(meta[field], kind):
                raise ValueError(f"{directory / META_FILE}: field {field!r} is invalid "
                                 f"({meta[field]!r:.60}); rebuild the index")
        try:
            check_knobs(meta.get("search"))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{directory / META_FILE}: field 'search': {e}; rebuild the index") from None
        return meta

    @classmethod
    def load(cls, directory, expect: dict | None = None, knobs: dict | None = None) -> "DenseIndex":
        """Load an index directory, checking its metadata against `expect` (field -> value).

        `knobs` override the search knobs saved with the index (nprobe, ef_search, k_factor).
        """
        directory = Path(directory)
        meta = cls.read_meta(directory)
        check_meta(meta, expect, directory)
        index = faiss.read_index(str(directory / INDEX_FILE))
        if (index.d, index.ntotal) != (meta.get("dim"), meta.get("count")):
            # e.g. the two files were copied from different builds
            raise IndexMismatchError(
                "dim/count", (index.d, index.ntotal), (meta.get("dim"), meta.get("count")),
                f"file {directory / INDEX_FILE} ")
        vectors = None
        if (directory / VECTORS_FILE).is_file():
            vectors = VectorRows(directory / VECTORS_FILE)
            if vectors.shape != (meta["count"], meta["dim"]) or vectors.dtype != np.float32:
                raise IndexMismatchError(
                    "vectors", f"{vectors.dtype}{list(vectors.shape)}",
                    f"float32{[meta['count'], meta['dim']]}", f"file {directory / VECTORS_FILE} ")
        meta = {**meta, "search": {**meta.get("search", {}), **check_knobs(knobs)}}
        return cls(index, meta, vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: scores [B, k] float32, rows [B, k] int64, best first.

        k is capped at the number of passages. Approximate kinds fetch `k_factor * k`
        candidates and re-rank them exactly with the stored vectors.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.index.d:
            raise ValueError(f"queries must be [B, {self.index.d}], got shape {q.shape}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        k = min(k, self.index.ntotal)
        factor = self.knobs.get("k_factor", 1) if self.vectors is not None else 1
        fetch = min(k * factor, self.index.ntotal)
        hnsw = getattr(faiss.downcast_index(self.index), "hnsw", None)
        if hnsw is not None and hnsw.efSearch < fetch:
            hnsw.efSearch = fetch  # HNSW returns at most efSearch candidates
        scores, rows = self.index.search(q, fetch)
        rows = rows.astype(np.int64, copy=False)
        if factor > 1:
            scores, rows = self._rerank(q, rows, k)
        return scores.astype(np.float32, copy=False), rows

    def _rerank(self, q: np.ndarray, rows: np.ndarray, k: int):
        """Exact inner products of the candidate `rows` [B, C]; the k best, best first."""
        valid = rows >= 0
        vectors = self.reconstruct(np.where(valid, rows, 0))  # [B, C, D]
        exact = np.einsum("bd,bcd->bc", q, vectors)
        exact[~valid] = -np.inf
        # stable sort on -score: ties keep FAISS's candidate order
        best = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, best, 1)
        rows = np.where(np.isfinite(scores), np.take_along_axis(rows, best, 1), -1)
        return np.where(np.isfinite(scores), scores, -np.inf).astype(np.float32), rows

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors [..., D] float32 for `rows` [...].

        Exact for every kind with stored vectors; an index without them (format 1) gives
        what FAISS decodes (SQ8 and PQ codes give approximations).
        """
        rows = np.asarray(rows, dtype=np.int64)
        flat = rows.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.index.ntotal):
            raise ValueError(f"rows must be in [0, {self.index.ntotal}), got "
                             f"{flat.min()}..{flat.max()}")
        if not flat.size:
            vectors = np.empty((0, self.index.d), dtype=np.float32)
        elif self.vectors is not None:
            # each row read once, in file order
            unique, inverse = np.unique(flat, return_inverse=True)
            vectors = np.asarray(self.vectors[unique])[inverse]
        else:
            vectors = self.index.reconstruct_batch(flat)
        return np.asarray(vectors, dtype=np.float32).reshape(*rows.shape, self.index.d)
