"""Sharded, resumable index builds: in this process, or on a Ray cluster with one encoder per worker.

One code path for both. Passages are split and written once, then encoded in shards of
`shard_size` rows; each shard's vectors are written atomically to the work directory
`.<out>.building/` beside the output as soon as they exist. A build that is killed and
run again with the same inputs keeps the finished shards and encodes only the rest; the
merged vectors are those of an uninterrupted build, because every shard is encoded by the
same `TextEncoder.encode` call on the same texts, wherever it runs. The output directory
appears complete (atomic rename) or not at all, and one lock per output refuses a second
concurrent build into it.
"""

import fcntl
import itertools
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag_dialogue.retrieval.encoder import TextEncoder, resolve_encoder
from rag_dialogue.retrieval.index import (
    DenseIndex, check_index_type, check_knobs, check_meta, ensure_replaceable)
from rag_dialogue.retrieval.passages import document_text
from rag_dialogue.retrieval.store import (
    PASSAGES_FILE, PassageFile, iter_passages, load_index_dir, offsets_path, write_passages)
from rag_dialogue.utils import atomic_path, remove_stale_temporaries, sha256_file, write_json_atomic

SHARD_SIZE = 4096
PLAN_FILE, SHARDS_DIR = "plan.json", "shards"
MAX_WORDS = 100  # passages longer than this many words are split


class BuildLockedError(RuntimeError):
    """Another process is building into the same output directory."""


class BuildLock:
    """An exclusive, non-blocking lock on `.<out>.lock` beside the output.

    flock locks die with their process, so a killed build never leaves a stale lock.
    """

    def __init__(self, out_dir: Path):
        self.path = out_dir.parent / f".{out_dir.name}.lock"
        self.out_dir = out_dir
        self.fd = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise BuildLockedError(
                    f"another build (pid {holder}) is writing {self.out_dir}; wait for it to "
                    "finish or choose another --out") from None
            # The holder before us may have unlinked the file after we opened it: lock the
            # file that is at the path now, or two builds could each hold "the" lock.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def work_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.building"


def _shard_path(work: Path, shard: int) -> Path:
    return work / SHARDS_DIR / f"{shard:06d}.npy"


def _save_shard(work: Path, shard: int, vectors: np.ndarray):
    with atomic_path(_shard_path(work, shard)) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, vectors, allow_pickle=False)


def _load_shard(work: Path, shard: int, rows: int, dim: int, mmap_mode=None) -> np.ndarray | None:
    """A finished shard's vectors, or None if it is missing or not what the plan expects.

    mmap_mode "r" only reads the header (to check what is done without reading it all).
    """
    path = _shard_path(work, shard)
    if not path.is_file():
        return None
    try:
        vectors = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None
    if vectors.shape != (rows, dim) or vectors.dtype != np.float32:
        return None
    return vectors


def _prepare(work: Path, passages_path: Path, plan: dict, skipped=None) -> dict:
    """The work directory's plan, resumed if it matches `plan`, else started afresh.

    plan.json is written (atomically) only after the split passages are, so its presence
    means they are complete.
    """
    plan_file = work / PLAN_FILE
    if plan_file.is_file():
        try:
            old = json.loads(plan_file.read_text())
        except json.JSONDecodeError:
            old = {}
        if {k: old.get(k) for k in plan} == plan and (work / PASSAGES_FILE).is_file():
            return old
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    count = write_passages(iter_passages(passages_path, MAX_WORDS, skipped=skipped), work / PASSAGES_FILE,
                           source=passages_path)
    done = {**plan, "count": count, "passages_sha256": sha256_file(work / PASSAGES_FILE)}
    write_json_atomic(plan_file, done)
    return done


def _reusable_vectors(index_dir, encoder: TextEncoder, pooling: str) -> dict:
    """document text -> stored vector of an index built by the same encoder."""
    index, store = load_index_dir(index_dir)
    check_meta(index.meta, {"encoder": encoder.name, "pooling": pooling},
               index_dir, hint="reuse only an index built with the same encoder")
    known = {}
    for start in range(0, len(store), SHARD_SIZE):
        rows = np.arange(start, min(start + SHARD_SIZE, len(store)))
        for row, vector in zip(rows, index.reconstruct(rows)):
            known[document_text(store[int(row)])] = vector
    return known


def _skip_report(passages_path: Path, skip_bad_lines: bool, skipped):
    """The SkippedLines that bad lines go to (None: stop at the first)."""
    if not skip_bad_lines:
        return None
    from rag_dialogue.retrieval.passages import SkippedLines

    skipped = SkippedLines() if skipped is None else skipped
    skipped.path = str(passages_path)
    return skipped


def build_index(passages_path, out_dir, encoder_name_or_path=None, pooling="mean",
                index_type="exact", batch_size=64, show_progress=True, reuse=None,
                shard_size=SHARD_SIZE, ray=False, num_workers=None, address=None,
                knobs=None, skip_bad_lines=False, skipped=None) -> Path:
    """Encode each passage of `passages_path` (as `title. text`) into a self-contained index dir.

    The directory holds the split passages (passages.jsonl and its offsets table, row i =
    index row i), the FAISS index (index.faiss, plus vectors.npy for compressed kinds)
    and meta.json, and is replaced atomically. `reuse`: an index built with the same
    encoder and pooling, whose vectors are taken for passages it already holds (only new
    or changed passages are encoded). `ray`: encode on Ray with `num_workers` encoder
    actors (default: one per CPU of the cluster) at `address` (default: a local Ray
    started for this build, or the one this process is connected to). `knobs`: search
    knobs saved with the index (nprobe, ef_search, k_factor).
    """
    out_dir = Path(out_dir)
    passages_path = Path(passages_path)
    if shard_size < 1:
        raise ValueError(f"shard size must be >= 1, got {shard_size}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"--num-workers must be >= 1, got {num_workers}")
    knobs = check_knobs(knobs)
    ensure_replaceable(out_dir)
    if not passages_path.is_file():
        raise FileNotFoundError(f"passage file not found: {passages_path}")
    encoder_path = resolve_encoder(encoder_name_or_path)
    # On Ray the workers load the weights; here only the config and tokenizer are needed.
    encoder = TextEncoder(encoder_path, pooling, load_weights=not ray)
    check_index_type(index_type, encoder.dim)  # fail before the slow part

    with BuildLock(out_dir):
        remove_stale_temporaries(out_dir)  # of a killed build (the lock keeps others out)
        work = work_dir(out_dir)
        plan = _prepare(work, passages_path, {
            "source": str(passages_path.resolve()), "source_sha256": sha256_file(passages_path),
            "encoder": encoder.name, "pooling": pooling, "max_length": encoder.max_length,
            "dim": encoder.dim, "shard_size": shard_size, "max_words": MAX_WORDS,
            # batches pad to their longest text: another batch size gives (slightly) other vectors
            "batch_size": batch_size,
            "reuse": str(Path(reuse).resolve()) if reuse else None,
            "reuse_sha256": (DenseIndex.read_meta(reuse)["passages_sha256"] if reuse else None),
            "skip_bad_lines": bool(skip_bad_lines),
        }, _skip_report(passages_path, skip_bad_lines, skipped))
        store = PassageFile(work / PASSAGES_FILE, cache_size=0)
        count, dim = plan["count"], plan["dim"]
        n_shards = math.ceil(count / shard_size)
        bounds = [(s * shard_size, min(count, (s + 1) * shard_size)) for s in range(n_shards)]
        todo = [s for s, (a, b) in enumerate(bounds)
                if _load_shard(work, s, b - a, dim, mmap_mode="r") is None]
        if len(todo) < n_shards:
            print(f"resuming the build of {out_dir}: {n_shards - len(todo)} of {n_shards} "
                  "shards already encoded", file=sys.stderr)
        known = _reusable_vectors(reuse, encoder, pooling) if reuse else {}

        def texts(shard):
            a, b = bounds[shard]
            return [document_text(store[row]) for row in range(a, b)]

        bar = tqdm(total=count, initial=count - sum(bounds[s][1] - bounds[s][0] for s in todo),
                   desc="encoding", unit="passage", disable=not show_progress)
        # lazily: only the shards in flight hold their texts
        jobs = ((s, *_split_known(texts(s), known, dim)) for s in todo)

        def finish(shard, vectors, rows_to_encode, encoded):
            if len(rows_to_encode):
                vectors[rows_to_encode] = encoded
            _save_shard(work, shard, vectors)
            bar.update(len(vectors))

        try:
            if ray:
                _encode_on_ray(jobs, finish, encoder.name_or_path, pooling, encoder.max_length,
                               batch_size, num_workers, address)
            else:
                for shard, vectors, rows_to_encode, new_texts in jobs:
                    encoded = encoder.encode(new_texts, batch_size=batch_size) if new_texts else None
                    finish(shard, vectors, rows_to_encode, encoded)
        finally:
            bar.close()

        embeddings = np.concatenate([_load_shard(work, s, b - a, dim)
                                     for s, (a, b) in enumerate(bounds)])
        meta = {
            "encoder": encoder.name,
            "pooling": pooling,
            "passages_sha256": plan["passages_sha256"],
            "document_format": "title. text",
            "source": plan["source"],
            "source_sha256": plan["source_sha256"],
        }
        index = DenseIndex.build(embeddings, index_type, meta, knobs)
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            for src in (work / PASSAGES_FILE, offsets_path(work / PASSAGES_FILE)):
                _link_or_copy(src, tmp / src.name)
            index.write(tmp)
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def _split_known(texts: list[str], known: dict, dim: int):
    """A shard's vectors with the reused ones filled in, the rows still to encode and their texts."""
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    rows = []
    for i, text in enumerate(texts):
        vector = known.get(text)
        if vector is None:
            rows.append(i)
        else:
            vectors[i] = vector
    return vectors, np.asarray(rows, dtype=np.int64), [texts[i] for i in rows]


def _link_or_copy(src: Path, dst: Path):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _encode_on_ray(jobs, finish, encoder_path, pooling, max_length, batch_size,
                   num_workers, address):
    """Encode `jobs` on Ray actors (one encoder each); `finish` stores each shard as it arrives.

    Each actor holds one TextEncoder and encodes whole shards with the same
    `encode(texts, batch_size)` call as a single-process build. Shards are handed out as
    actors become free (two in flight per actor, so none waits for the driver).
    """
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray: pip install 'rag-dialogue[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started = True
    elif address is not None:
        raise ValueError(f"this process is already connected to a Ray cluster; "
                         f"cannot connect to --address {address}")
    try:
        queue = iter(jobs)
        first = next(queue, None)
        if first is None:
            return
        queue = itertools.chain([first], queue)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actor_cls = ray.remote(num_cpus=1)(EncoderWorker)
        actors = [actor_cls.remote(encoder_path, pooling, max_length)
                  for _ in range(num_workers or cpus)]
        pending = {}  # object ref -> (actor, job)

        def submit(actor):
            job = next(queue, None)
            if job is not None:
                pending[actor.encode.remote(job[3], batch_size)] = (actor, job)

        for actor in actors * 2:
            submit(actor)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor, (shard, vectors, rows, _) = pending.pop(ref)
            finish(shard, vectors, rows, ray.get(ref))
            submit(actor)
        for actor in actors:
            ray.kill(actor)
    finally:
        if started:
            ray.shutdown()


class EncoderWorker:
    """One TextEncoder in a Ray worker (or anywhere): loads once, encodes many shards."""

    def __init__(self, encoder_path, pooling, max_length):
        self.encoder = TextEncoder(encoder_path, pooling, max_length)

    def encode(self, texts, batch_size):
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return self.encoder.encode(texts, batch_size=batch_size)
