"""Index directories (index.faiss, meta.json, passages.jsonl): building and searching them."""

from pathlib import Path

import numpy as np

from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.index import (
    INDEX_TYPES, DenseIndex, check_meta, ensure_replaceable)
from rag_dialogue.retrieval.passages import PassageStore, document_text
from rag_dialogue.utils import atomic_path, sha256_file

PASSAGES_FILE = "passages.jsonl"


def build_index(passages_path, out_dir, encoder_name_or_path=None, pooling="mean",
                index_type="exact", batch_size=64, show_progress=True, reuse=None,
                skip_bad_lines=False, skipped=None) -> Path:
    """Encode each passage of `passages_path` (as `title. text`) into a self-contained index dir.

    The directory holds the split passages (passages.jsonl, row i = index row i), the
    FAISS index and meta.json, and is replaced atomically. `reuse`: an exact index
    built with the same encoder and pooling, whose vectors are taken for passages it
    already holds (only new or changed passages are encoded). `skip_bad_lines`,
    `skipped`: see `PassageStore.from_file`.
    """
    out_dir = Path(out_dir)
    if index_type not in INDEX_TYPES:  # fail before the slow part
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    ensure_replaceable(out_dir)
    store = PassageStore.from_file(passages_path, skip_bad_lines=skip_bad_lines, skipped=skipped)
    encoder = TextEncoder(encoder_name_or_path, pooling)
    texts = [document_text(p) for p in store]
    known = _reusable_vectors(reuse, encoder, pooling) if reuse else {}
    todo = [i for i, t in enumerate(texts) if t not in known]
    embeddings = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if todo:
        embeddings[todo] = encoder.encode([texts[i] for i in todo], batch_size=batch_size,
                                          show_progress=show_progress)
    for i, t in enumerate(texts):
        if t in known:
            embeddings[i] = known[t]
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        store.save_jsonl(tmp / PASSAGES_FILE)
        meta = {
            "encoder": encoder.name_or_path,
            "pooling": pooling,
            "passages_sha256": sha256_file(tmp / PASSAGES_FILE),
            "document_format": "title. text",
            "source": str(Path(passages_path).resolve()),
            "source_sha256": store.checksum,
        }
        DenseIndex.build(embeddings, index_type, meta).write(tmp)
    return out_dir


def _reusable_vectors(index_dir, encoder: TextEncoder, pooling: str) -> dict:
    """document text -> stored vector of an exact index built by the same encoder."""
    old = Retriever(index_dir, encoder)
    check_meta(old.meta, {"encoder": encoder.name_or_path, "pooling": pooling, "index_type": "exact"},
               index_dir, hint="reuse only an exact index built with the same encoder")
    vectors = old.index.reconstruct(np.arange(len(old.store)))
    return {document_text(p): v for p, v in zip(old.store, vectors)}


class Retriever:
    """Dense retrieval from an index dir; the query encoder defaults to its passage encoder."""

    def __init__(self, index_dir, query_encoder: TextEncoder | None = None):
        index_dir = Path(index_dir)
        self.index = DenseIndex.load(index_dir)
        self.meta = self.index.meta
        passages_path = index_dir / PASSAGES_FILE
        if not passages_path.is_file():
            raise FileNotFoundError(f"index directory {index_dir} lacks {PASSAGES_FILE}")
        self.store = PassageStore.from_file(passages_path, max_words=None)
        check_meta(self.meta, {"passages_sha256": self.store.checksum}, index_dir,
                   hint=f"{PASSAGES_FILE} was changed after the index was built; rebuild it")
        if query_encoder is None:
            query_encoder = TextEncoder(self.meta["encoder"], self.meta["pooling"])
        # A separately trained query encoder may have another name; only its dimension must
        # match. The same encoder must also pool the same way, or scores are meaningless.
        expect = {"dim": query_encoder.dim}
        if query_encoder.name_or_path == self.meta["encoder"]:
            expect["pooling"] = query_encoder.pooling
        check_meta(self.meta, expect, index_dir,
                   hint="use the query encoder the index was built for")
        self.query_encoder = query_encoder

    def search_embeddings(self, query_emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for query embeddings [B, D]: scores [B, k] float32, rows [B, k] int64."""
        return self.index.search(query_emb, k)

    def search(self, text: str, k: int = 5) -> list[dict]:
        """The k best passages for `text` as [{"id", "title", "text", "score"}], best first.

        Long queries keep their end (the most recent dialogue turns).
        """
        query_emb = self.query_encoder.encode([text], truncate_left=True)
        scores, rows = self.search_embeddings(query_emb, k)
        results = []
        for score, row in zip(scores[0], rows[0]):
            if row < 0:  # an approximate index found fewer than k
                continue
            p = self.store[int(row)]
            results.append({"id": p.id, "title": p.title, "text": p.text, "score": float(score)})
        return results
