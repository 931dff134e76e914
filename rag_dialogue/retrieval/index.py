"""FAISS inner-product index over passage embeddings, with metadata checked on load."""

import json
import math
from pathlib import Path

import faiss
import numpy as np

from rag_dialogue.utils import atomic_path

INDEX_TYPES = ("exact", "hnsw_sq8", "ivfpq")
FORMAT = 1
INDEX_FILE, META_FILE = "index.faiss", "meta.json"
REQUIRED_META = ("encoder", "pooling", "passages_sha256")
# What a loaded index's users read from its meta.json, with the type each must have.
META_TYPES = {"encoder": str, "pooling": str, "passages_sha256": str, "dim": int,
              "count": int, "index_type": str}

HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 200, 128
IVF_NPROBE, REFINE_K_FACTOR = 16, 4


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


def _factory(index_type: str, n: int, d: int) -> tuple[str, str]:
    """faiss index_factory string and search parameters for `n` vectors of dimension `d`."""
    if index_type == "exact":
        return "Flat", ""
    if index_type == "hnsw_sq8":
        return f"HNSW{HNSW_M}_SQ8", f"efSearch={HNSW_EF_SEARCH}"
    if index_type == "ivfpq":
        # k-means needs at least as many points as centroids (faiss wants 39x for good
        # centroids): shrink the IVF lists and PQ codebooks to what the corpus can train.
        if n < 16:
            raise ValueError(f"index type ivfpq needs at least 16 passages to train, got {n}; "
                             "use --index-type exact")
        nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
        nbits = min(8, max(4, int(math.log2(n / 39))))
        m = max(k for k in range(1, max(1, d // 4) + 1) if d % k == 0)  # sub-quantizers divide d
        params = f"nprobe={min(nlist, IVF_NPROBE)},k_factor_rf={REFINE_K_FACTOR}"
        return f"IVF{nlist},PQ{m}x{nbits},RFlat", params
    raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")


class DenseIndex:
    """A FAISS index (inner product) plus its metadata; row i is passage i of the store."""

    def __init__(self, index: faiss.Index, meta: dict):
        self.index = index
        self.meta = meta

    @classmethod
    def build(cls, embeddings: np.ndarray, index_type: str, meta: dict) -> "DenseIndex":
        """Train (if needed) and fill an index of `index_type` with `embeddings` [N, D].

        `meta` must give encoder, pooling and passages_sha256; format, dim, count and
        index_type are filled in from the arguments.
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
        spec, params = _factory(index_type, n, d)
        index = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
        if index_type == "hnsw_sq8":
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        if index_type == "ivfpq":
            # Polysemous codes serve Hamming pre-filtering, which we do not use; training
            # them costs seconds even on tiny corpora.
            faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False
        if params:
            faiss.ParameterSpace().set_index_parameters(index, params)
        index.train(emb)
        index.add(emb)
        meta = {"format": FORMAT, **meta, "dim": d, "count": n, "index_type": index_type}
        return cls(index, meta)

    def write(self, directory):
        """Write index.faiss and meta.json into an existing directory (not atomic; see save)."""
        directory = Path(directory)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
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
        if meta.get("format") != FORMAT:
            raise ValueError(f"{directory / META_FILE}: unsupported index format "
                             f"{meta.get('format')!r} (this version reads {FORMAT})")
        for field, kind in META_TYPES.items():
            value = meta.get(field)
            if not isinstance(value, kind) or isinstance(value, bool) or \
                    field == "index_type" and value not in INDEX_TYPES:
                raise ValueError(f"{directory / META_FILE}: field {field!r} is missing or "
                                 f"invalid ({value!r:.60}); rebuild the index")
        return meta

    @classmethod
    def load(cls, directory, expect: dict | None = None) -> "DenseIndex":
        """Load an index directory, checking its metadata against `expect` (field -> value)."""
        directory = Path(directory)
        meta = cls.read_meta(directory)
        check_meta(meta, expect, directory)
        index = faiss.read_index(str(directory / INDEX_FILE))
        if (index.d, index.ntotal) != (meta.get("dim"), meta.get("count")):
            # e.g. the two files were copied from different builds
            raise IndexMismatchError(
                "dim/count", (index.d, index.ntotal), (meta.get("dim"), meta.get("count")),
                f"file {directory / INDEX_FILE} ")
        return cls(index, meta)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: scores [B, k] float32, rows [B, k] int64, best first.

        k is capped at the number of passages.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.index.d:
            raise ValueError(f"queries must be [B, {self.index.d}], got shape {q.shape}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        k = min(k, self.index.ntotal)
        if self.meta["index_type"] == "hnsw_sq8" and self.index.hnsw.efSearch < k:
            self.index.hnsw.efSearch = k  # HNSW returns at most efSearch candidates
        scores, rows = self.index.search(q, k)
        return scores.astype(np.float32, copy=False), rows.astype(np.int64, copy=False)

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors [..., D] float32 for `rows` [...] (SQ8 indexes give decoded values)."""
        rows = np.asarray(rows, dtype=np.int64)
        flat = rows.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.index.ntotal):
            raise ValueError(f"rows must be in [0, {self.index.ntotal}), got "
                             f"{flat.min()}..{flat.max()}")
        vectors = self.index.reconstruct_batch(flat) if flat.size else np.empty((0, self.index.d))
        return np.asarray(vectors, dtype=np.float32).reshape(*rows.shape, self.index.d)
