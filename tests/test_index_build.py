"""Sharded, resumable, locked index builds; the memory-mapped passage store; index kinds and knobs."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from rag_dialogue.retrieval import build as build_module
from rag_dialogue.retrieval.build import BuildLock, BuildLockedError, build_index, work_dir
from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.index import DenseIndex, IndexMismatchError, VectorRows
from rag_dialogue.retrieval.passages import PassageFileError, read_passages
from rag_dialogue.retrieval.retriever import PASSAGES_FILE, Retriever
from rag_dialogue.retrieval.store import PassageFile, offsets_path, write_passages

META = {"encoder": "enc", "pooling": "mean", "passages_sha256": "0" * 64}


def _vectors(index_dir):
    index = DenseIndex.load(index_dir)
    return index.reconstruct(np.arange(index.meta["count"]))


def _same_index(a, b):
    """Same passages (bytes), same metadata, bit-identical vectors."""
    assert (a / PASSAGES_FILE).read_bytes() == (b / PASSAGES_FILE).read_bytes()
    meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (a, b))
    assert meta_a == meta_b
    va, vb = _vectors(a), _vectors(b)
    assert va.dtype == vb.dtype == np.float32 and np.array_equal(va, vb)


# ---------------------------------------------------------------- passage store

def test_passage_file_reads_rows_like_the_store(tmp_path, passages_file):
    store = read_passages(passages_file)
    path = tmp_path / "p.jsonl"
    assert write_passages(iter(store), path) == len(store)
    offsets = np.load(offsets_path(path))
    assert offsets.dtype == np.int64 and offsets[-1] == path.stat().st_size
    f = PassageFile(path, cache_size=3)
    assert len(f) == len(store) and list(f) == list(store)
    for row in (5, 0, len(store) - 1, 5, 7, 9, 11):
        assert f[row] == store[row]
    assert len(f._cache) == 3  # bounded
    assert f[-1] == store[len(store) - 1]
    with pytest.raises(IndexError, match="out of range"):
        f[len(store)]
    # an older index directory without the offsets table still reads
    offsets_path(path).unlink()
    assert PassageFile(path)[3] == store[3]


def test_passage_file_refuses_a_changed_file(tmp_path, passages_file):
    path = tmp_path / "p.jsonl"
    write_passages(iter(read_passages(passages_file)), path)
    with open(path, "a") as f:
        f.write(json.dumps({"id": "x", "title": "X", "text": "appended"}) + "\n")
    with pytest.raises(PassageFileError, match="offsets table does not match p.jsonl"):
        PassageFile(path)


def test_write_passages_of_nothing_names_the_source(tmp_path):
    with pytest.raises(PassageFileError, match="src.jsonl: no passages"):
        write_passages(iter([]), tmp_path / "p.jsonl", source=tmp_path / "src.jsonl")
    assert not (tmp_path / "p.jsonl").exists()


# ---------------------------------------------------------------- index kinds and knobs

def _random(n, d, seed):
    """Unit vectors around 20 fixed centres (embeddings cluster; isotropic noise does not)."""
    centres = np.random.default_rng(99).standard_normal((20, d))
    rng = np.random.default_rng(seed)
    x = (centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind, knobs", [
    ("hnsw_flat", {}), ("hnsw_sq8", {}), ("ivfpq", {}),
    ("IVF8,PQ16", {"nprobe": 4}),  # a factory string gets FAISS's defaults (nprobe 1)
    ("HNSW16_SQ8", {"ef_search": 32}),
])
def test_kinds_and_factory_strings_rerank_to_exact_scores(tmp_path, kind, knobs):
    emb, queries = _random(2000, 32, 0), _random(20, 32, 1)
    exact = DenseIndex.build(emb, "exact", META)
    index = DenseIndex.build(emb, kind, META, knobs={"k_factor": 8, **knobs})
    assert index.meta["index_type"] == kind and index.meta["search"]["k_factor"] == 8
    index.save(tmp_path / "idx")
    loaded = DenseIndex.load(tmp_path / "idx")
    assert isinstance(loaded.vectors, VectorRows)  # the vectors stay on disk
    _, want = exact.search(queries, 5)
    scores, got = loaded.search(queries, 5)
    recall = np.mean([len(set(w) & set(g)) / 5 for w, g in zip(want, got)])
    assert recall >= 0.9, recall
    # re-ranked with the stored vectors: the scores are exact inner products, best first
    np.testing.assert_allclose(scores, np.einsum("bd,bkd->bk", queries, emb[got]), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    np.testing.assert_array_equal(loaded.reconstruct(got), emb[got])


def test_search_knobs_are_saved_and_can_be_overridden(tmp_path):
    emb, queries = _random(3000, 32, 2), _random(50, 32, 3)
    DenseIndex.build(emb, "ivfpq", META, knobs={"nprobe": 1, "k_factor": 1}).save(tmp_path / "idx")
    low = DenseIndex.load(tmp_path / "idx")
    assert low.meta["search"] == {"nprobe": 1, "k_factor": 1}
    high = DenseIndex.load(tmp_path / "idx", knobs={"nprobe": 64, "k_factor": 10})
    import faiss
    assert faiss.extract_index_ivf(high.index).nprobe == 64
    _, want = DenseIndex.build(emb, "exact", META).search(queries, 5)
    recall = lambda idx: np.mean([len(set(w) & set(g)) / 5  # noqa: E731
                                  for w, g in zip(want, idx.search(queries, 5)[1])])
    assert recall(high) > recall(low) + 0.5 and recall(high) >= 0.9
    with pytest.raises(ValueError, match="nprobe must be an integer >= 1"):
        DenseIndex.load(tmp_path / "idx", knobs={"nprobe": 0})
    with pytest.raises(ValueError, match="unknown search knob 'nlist'"):
        high.set_knobs(nlist=3)


def test_mismatched_vectors_file_is_refused(tmp_path):
    DenseIndex.build(_random(300, 16, 0), "hnsw_sq8", META).save(tmp_path / "idx")
    np.save(tmp_path / "idx" / "vectors.npy", _random(299, 16, 0))
    with pytest.raises(IndexMismatchError, match="vectors.npy"):
        DenseIndex.load(tmp_path / "idx")


# ---------------------------------------------------------------- sharded, resumable builds

@pytest.fixture(scope="module")
def reference(passages_file, tmp_path_factory):
    """An uninterrupted build with the packaged MiniLM in shards of 8 passages."""
    return build_index(passages_file, tmp_path_factory.mktemp("ref") / "idx",
                       shard_size=8, batch_size=4, show_progress=False)


def test_shard_size_does_not_change_what_is_retrieved(reference, passages_file, tmp_path):
    whole = build_index(passages_file, tmp_path / "whole", shard_size=10_000, show_progress=False)
    np.testing.assert_allclose(_vectors(whole), _vectors(reference), atol=1e-5)
    assert not work_dir(whole).exists() and not (tmp_path / ".whole.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole"]


def _build_command(passages, out, *extra):
    return [sys.executable, "-m", "rag_dialogue.cli", "index", "build", "--passages", str(passages),
            "--out", str(out), "--shard-size", "8", "--batch-size", "4", *extra]


def _kill_when(command, ready, timeout=120):
    """Start `command`, SIGKILL it as soon as `ready()` holds; True if it was still running."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    running = proc.poll() is None
    proc.kill()  # unlike os.kill, a no-op when the build already ended and was reaped by poll()
    proc.wait()
    return running


def _shards(out):
    return sorted((work_dir(out) / "shards").glob("*.npy"))


@pytest.mark.slow
def test_a_killed_build_resumes_to_the_same_index(reference, passages_file, tmp_path, monkeypatch):
    n_shards = -(-json.loads((reference / "meta.json").read_text())["count"] // 8)
    moments = {
        "splitting passages": lambda out: work_dir(out).exists(),
        "after 3 shards": lambda out: len(_shards(out)) >= 3,
        "all shards, merging": lambda out: len(_shards(out)) == n_shards,
    }
    killed_mid_build = 0
    for name, ready in moments.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        killed_mid_build += _kill_when(_build_command(passages_file, out), lambda: ready(out))
        if out.exists():  # killed after the final rename: then it is the whole index
            _same_index(out, reference)
        # (a half-written index never appears at `out`: it is renamed into place when complete)
        kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _shards(out)}
        encoded = []
        original = TextEncoder.encode
        monkeypatch.setattr(TextEncoder, "encode",
                            lambda self, texts, **kw: encoded.extend(texts) or original(self, texts, **kw))
        build_index(passages_file, out, shard_size=8, batch_size=4, show_progress=False)
        monkeypatch.undo()
        _same_index(out, reference)
        count = json.loads((out / "meta.json").read_text())["count"]
        finished_rows = sum(min(8, count - 8 * int(p[:6])) for p in kept)
        assert len(encoded) == count - finished_rows, name  # finished shards were not re-encoded
        assert not work_dir(out).exists()
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")) == []
    assert killed_mid_build >= 2  # the kills did land inside builds


def test_a_second_build_into_the_same_directory_is_refused(passages_file, tiny_encoder_dir,
                                                          tmp_path, capsys):
    from rag_dialogue.cli import main

    out = tmp_path / "idx"
    with BuildLock(out):
        with pytest.raises(BuildLockedError, match=f"another build \\(pid {os.getpid()}\\) is writing {out}"):
            build_index(passages_file, out, str(tiny_encoder_dir), show_progress=False)
        assert main(["index", "build", "--passages", str(passages_file), "--out", str(out),
                     "--encoder", str(tiny_encoder_dir)]) == 2
        assert "another build" in capsys.readouterr().err
        assert not out.exists()
    build_index(passages_file, out, str(tiny_encoder_dir), show_progress=False)
    assert Retriever(out).search("Cambodia", k=1)


def test_a_changed_source_starts_the_work_afresh(passages_file, tiny_encoder_dir, tmp_path, monkeypatch):
    """Shards kept from a build of other passages (or another encoder) are never reused."""
    source = tmp_path / "p.jsonl"
    rows = passages_file.read_text().splitlines()
    source.write_text("\n".join(rows[:10]) + "\n")
    out = tmp_path / "idx"
    work = work_dir(out)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(build_module.DenseIndex, "build", crash)
        with pytest.raises(KeyboardInterrupt):
            build_index(source, out, str(tiny_encoder_dir), shard_size=4, show_progress=False)
    assert _shards(out) and not out.exists()
    source.write_text("\n".join(rows[10:20]) + "\n")
    built = build_index(source, out, str(tiny_encoder_dir), shard_size=4, show_progress=False)
    fresh = build_index(source, tmp_path / "fresh", str(tiny_encoder_dir), shard_size=4,
                        show_progress=False)
    _same_index(built, fresh)
    assert not work.exists()


def test_cli_build_options_are_checked(passages_file, tmp_path, capsys):
    from rag_dialogue.cli import main

    base = ["index", "build", "--passages", str(passages_file), "--out", str(tmp_path / "o")]
    assert main(base + ["--shard-size", "0"]) == 2
    assert "--shard-size must be >= 1" in capsys.readouterr().err
    assert main(base + ["--num-workers", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err
    assert main(base + ["--index-type", "IVF4,PQ5"]) == 2
    assert "'IVF4,PQ5'" in capsys.readouterr().err
    assert main(base + ["--nprobe", "0"]) == 2
    assert "nprobe must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
