"""Retrieval served by Ray actors: each loads an index directory once, many processes query it.

`RayRetriever` stands where a `Retriever` stands (`search_embeddings`, `index.reconstruct`,
`store[row]`, `search`), so the model does not know where its index lives. The actors
are named after the index (its path, metadata and search knobs), so every training or
evaluation process connected to the same Ray cluster shares the same N actors instead
of loading its own copy. A search returns the rows' vectors and passages with the
scores: one round trip per batch; the model's later `reconstruct` and `store[row]`
calls for those rows are answered from that reply.
"""

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np

from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.index import META_FILE, check_knobs
from rag_dialogue.retrieval.passages import Passage
from rag_dialogue.retrieval.retriever import check_query_encoder, load_index_dir, search_text

NAMESPACE = "rag_dialogue"


class IndexServer:
    """What one actor holds: the index and passages of one directory."""

    def __init__(self, index_dir, knobs=None):
        self.index, self.store = load_index_dir(index_dir, knobs)

    def meta(self) -> dict:
        return self.index.meta

    def search(self, query_emb: np.ndarray, k: int):
        """scores [B, k], rows [B, k], vectors [B, k, D] and passages (id, title, text) per row."""
        scores, rows = self.index.search(query_emb, k)
        return (scores, rows, self.index.reconstruct(np.maximum(rows, 0)),
                [[self._passage(r) if r >= 0 else None for r in row] for row in rows])

    def reconstruct(self, rows: np.ndarray) -> np.ndarray:
        return self.index.reconstruct(rows)

    def passages(self, rows) -> list:
        return [self._passage(r) for r in rows]

    def _passage(self, row) -> tuple:
        p = self.store[int(row)]
        return p.id, p.title, p.text


def connect(address: str | None = None):
    """Ray, connected: to `address`, else to the cluster this machine runs, else a new local one."""
    try:
        import ray
    except ImportError:
        raise ImportError("--retriever-actors needs Ray: pip install 'rag-dialogue[ray]'") from None
    if not ray.is_initialized():
        if address is None:
            try:
                ray.init(address="auto", namespace=NAMESPACE, log_to_driver=False)
            except ConnectionError:
                ray.init(namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    return ray


def actor_names(index_dir, n: int, knobs: dict) -> list[str]:
    """Names that identify the index (path, metadata, knobs): a rebuilt index gets new actors."""
    index_dir = Path(index_dir).resolve()
    key = json.dumps([str(index_dir), (index_dir / META_FILE).read_text(), knobs], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return [f"retriever-{digest}-{i}-of-{n}" for i in range(n)]


class _Index:
    """The `index` of a RayRetriever: metadata here, vectors from the last reply or an actor."""

    def __init__(self, owner, meta):
        self.owner, self.meta = owner, meta

    def search(self, query_emb, k):
        return self.owner.search_embeddings(query_emb, k)

    def reconstruct(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        cache = self.owner._vectors
        if all(int(r) in cache for r in rows.reshape(-1)):
            flat = [cache[int(r)] for r in rows.reshape(-1)]
            return np.stack(flat).reshape(*rows.shape, -1) if flat else np.empty(
                (*rows.shape, self.meta["dim"]), dtype=np.float32)
        return self.owner._ray.get(self.owner._next().reconstruct.remote(rows))


class _Store:
    """The `store` of a RayRetriever: passages from the last reply or an actor."""

    def __init__(self, owner, count):
        self.owner, self.count = owner, count

    def __len__(self):
        return self.count

    def __getitem__(self, row) -> Passage:
        row = int(row)
        hit = self.owner._passages.get(row)
        if hit is None:
            [hit] = self.owner._ray.get(self.owner._next().passages.remote([row]))
        return Passage(*hit)

    def __iter__(self):
        for start in range(0, self.count, 1024):
            rows = list(range(start, min(start + 1024, self.count)))
            yield from (Passage(*p) for p in self.owner._ray.get(self.owner._next().passages.remote(rows)))


class RayRetriever:
    """A Retriever whose index and passages live in `n_actors` Ray actors (shared by name).

    Each actor loads the index once (one CPU each); queries go to the actors in turn.
    The actors are detached: they outlive the process that started them, since the other
    training and evaluation processes that found them by name still query them. A Ray
    started by this process ends with it, and them; on a cluster they stay up, serving
    later runs over the same index, until `ray.kill` or `ray stop`.
    """

    def __init__(self, index_dir, query_encoder: TextEncoder | None = None, n_actors: int = 1,
                 knobs: dict | None = None, address: str | None = None):
        if n_actors < 1:
            raise ValueError(f"--retriever-actors must be >= 1, got {n_actors}")
        from rag_dialogue.retrieval.index import DenseIndex

        self.index_dir = Path(index_dir)
        DenseIndex.read_meta(self.index_dir)  # a missing or foreign directory fails here, clearly
        knobs = check_knobs(knobs)
        self._ray = ray = connect(address)
        server = ray.remote(num_cpus=1)(IndexServer)
        self.actors = [
            server.options(name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                           max_concurrency=4).remote(str(self.index_dir.resolve()), knobs)
            for name in actor_names(self.index_dir, n_actors, knobs)
        ]
        # every actor has loaded (and checked) the index before the first query
        try:
            metas = ray.get([a.meta.remote() for a in self.actors])
        except ray.exceptions.RayError as e:
            # the actor's own error (a mismatched or missing file) is the last line of Ray's report
            cause = [line for line in str(e).strip().splitlines() if line.strip()][-1]
            raise ValueError(f"retriever actors could not load {self.index_dir}: {cause}") from None
        self.meta = metas[0]
        self.index = _Index(self, self.meta)
        self.store = _Store(self, self.meta["count"])
        if query_encoder is None:
            query_encoder = TextEncoder(self.meta["encoder"], self.meta["pooling"])
        check_query_encoder(self.meta, query_encoder, self.index_dir)
        self.query_encoder = query_encoder
        self._turn = itertools.cycle(self.actors)
        self._vectors, self._passages = {}, {}

    def _next(self):
        return next(self._turn)

    def search_embeddings(self, query_emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for query embeddings [B, D] from the next actor: scores [B, k], rows [B, k]."""
        scores, rows, vectors, passages = self._ray.get(
            self._next().search.remote(np.ascontiguousarray(query_emb, dtype=np.float32), k))
        # keep only this reply's rows: the model asks for their vectors and passages next
        self._vectors, self._passages = {}, {}
        for row_ids, row_vectors, row_passages in zip(rows, vectors, passages):
            for r, v, p in zip(row_ids, row_vectors, row_passages):
                if r >= 0:
                    self._vectors[int(r)], self._passages[int(r)] = v, p
        return scores, rows

    def search(self, text: str, k: int = 5) -> list[dict]:
        """The k best passages for `text` as [{"id", "title", "text", "score"}], best first."""
        return search_text(self, text, k)
