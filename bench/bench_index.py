"""Compressed indexes against exact search: recall@5, queries per second, build time, memory.

Data: clustered random vectors of the packaged encoder's dimension (384), built to look
like sentence embeddings rather than isotropic noise (which no index can search better
than exhaustively): cluster centres and offsets live in a 48-dimensional latent space
with a decaying spectrum, are mapped to 384 dimensions by a fixed random matrix, get a
little isotropic noise and are L2-normalised. Queries are fresh draws from the same
clusters. The ground truth is `IndexFlatIP` (the "exact" kind) measured in the same run.

Every kind is built by `DenseIndex.build` (as `rag-dialogue index build` builds it) and
saved; the timed searches run on the *loaded* index, so compressed kinds re-rank their
candidates with the exact vectors memory-mapped from `vectors.npy`, as the retriever
does (warm: the rows they touch are in the page cache). Per kind: recall@5 (overlap of
the top 5 with exact's, averaged over the queries), queries per second (all queries in
one batch, medians over --repeats), build time, bytes per vector held in memory (the
serialised FAISS index; the re-ranking vectors stay on disk and are listed apart), and
each as a ratio to exact's. Target: a kind with recall@5 >= 0.95, >= 20x exact's QPS and
<= 1/4 of its memory.

Then the retriever's resident memory at --n passages: a child process loads a
`Retriever` over the ivfpq index and a synthetic passages.jsonl of --n rows, runs the
queries and reads the passages they return; its RSS (anonymous and file-backed) is
reported beside the index's size.

    nice .venv/bin/python bench/bench_index.py [--n 1000000] [--queries 1000] [--repeats 3]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from rag_dialogue.retrieval.index import DenseIndex

DIM, LATENT, CLUSTERS = 384, 48, 2000
META = {"encoder": "bench", "pooling": "mean", "passages_sha256": "0" * 64}


def clustered_vectors(n: int, seed: int, centres_seed: int = 1234) -> np.ndarray:
    """n unit vectors [n, 384] float32 from CLUSTERS clusters in a 48-d latent space."""
    base = np.random.default_rng(centres_seed)
    spectrum = 1.0 / (1.0 + np.arange(LATENT) / 8.0)
    mix = base.standard_normal((LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)
    centres = base.standard_normal((CLUSTERS, LATENT)).astype(np.float32) * spectrum
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        z = centres[rng.integers(0, CLUSTERS, m)] + 0.5 * spectrum * rng.standard_normal(
            (m, LATENT)).astype(np.float32)
        x = z @ mix + 0.02 * rng.standard_normal((m, DIM)).astype(np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed_search(index: DenseIndex, queries, k, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = index.search(queries, k)
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def resident_memory(index_dir: Path, queries_file: Path, k: int) -> dict:
    """RSS of a fresh process holding a Retriever over `index_dir` after searching."""
    code = f"""
import json, numpy as np, resource
def rss():
    f = dict(l.split(':', 1) for l in open('/proc/self/status') if l.startswith(('VmRSS', 'RssAnon', 'RssFile')))
    return {{k: int(v.split()[0]) * 1024 for k, v in f.items()}}
before = rss()
from rag_dialogue.retrieval.retriever import Retriever
r = Retriever({str(index_dir)!r})
loaded = rss()
q = np.load({str(queries_file)!r})
_, rows = r.search_embeddings(q, {k})
texts = sum(len(r.store[int(i)].text) for i in rows.reshape(-1))
after = rss()
print(json.dumps({{"before": before, "loaded": loaded, "after": after, "cache": len(r.store._cache),
                  "cache_size": r.store.cache_size, "chars": texts}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_passages(path: Path, n: int):
    """n synthetic ~30-word passages (the text is irrelevant to memory per row, its size is not)."""
    from rag_dialogue.retrieval.passages import Passage
    from rag_dialogue.retrieval.store import write_passages as write

    words = np.array("the of and in to was is for on as by with at from his an were are which "
                     "this also be had first one their its new after who they has".split())
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(words), (n, 30))
    write((Passage(f"p{i}", f"Title {i}", " ".join(words[picks[i]])) for i in range(n)), path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors (and passages) indexed")
    ap.add_argument("--queries", type=int, default=1000, help="queries searched per timing")
    ap.add_argument("--repeats", type=int, default=3, help="timed searches per kind (median)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--kinds", default="exact,ivfpq,hnsw_sq8",
                    help="comma-separated kinds or FAISS factory strings (exact first)")
    ap.add_argument("--knobs", default='{"ivfpq": [{"nprobe": 16}, {"nprobe": 32}], '
                    '"hnsw_sq8": [{"ef_search": 64}, {"ef_search": 128}]}',
                    help="JSON: kind -> list of search knob settings to time")
    ap.add_argument("--no-rss", action="store_true", help="skip the retriever RSS measurement")
    ap.add_argument("--workdir", default=None, help="where to save the indexes (default: a temp dir)")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    if kinds[0] != "exact":
        ap.error("--kinds must start with exact (the reference)")
    knob_sets = json.loads(args.knobs)

    threads = faiss.omp_get_max_threads()
    t = time.perf_counter()
    data = clustered_vectors(args.n, seed=0)
    queries = clustered_vectors(args.queries, seed=1)
    print(f"{args.n:,} clustered random vectors, dim {DIM} ({time.perf_counter() - t:.1f} s to make); "
          f"{args.queries} queries; k={args.k}; faiss threads {threads}; medians of {args.repeats}",
          flush=True)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_index."))
    rows, truth = [], None
    for kind in kinds:
        t = time.perf_counter()
        built = DenseIndex.build(data, kind, META)
        build_s = time.perf_counter() - t
        ram_bytes = faiss.serialize_index(built.index).nbytes
        directory = work / kind.replace(",", "_")
        built.save(directory)
        del built
        index = DenseIndex.load(directory)
        disk_extra = (directory / "vectors.npy").stat().st_size if index.vectors is not None else 0
        for knobs in knob_sets.get(kind, [{}]):
            index.set_knobs(**knobs)
            index.search(queries, args.k)  # warm-up: page in what the searches touch
            secs, (_, got) = timed_search(index, queries, args.k, args.repeats)
            if truth is None:
                truth = got
            recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, got)]))
            label = kind + ("" if not knobs else " " + ",".join(f"{k}={v}" for k, v in knobs.items()))
            rows.append(dict(kind=label, recall=recall, qps=args.queries / secs, build_s=build_s,
                             bytes_per_vector=ram_bytes / args.n, rerank_bytes=disk_extra / args.n,
                             factory=index.meta["factory"], k_factor=index.knobs.get("k_factor", 1)))
            print(f"  {label}: recall@{args.k} {recall:.3f}, {rows[-1]['qps']:.0f} q/s, "
                  f"build {build_s:.1f} s, {ram_bytes / args.n:.1f} B/vector", flush=True)
        del index

    ref = rows[0]
    print(f"\n| kind | factory | recall@{args.k} | QPS | QPS ratio | build s | build ratio | "
          "bytes/vector in memory | memory ratio | re-rank vectors on disk, bytes/vector |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['kind']} | `{r['factory']}`" + (f" + re-rank x{r['k_factor']}" if r["k_factor"] > 1 else "")
              + f" | {r['recall']:.3f} | {r['qps']:,.0f} | {r['qps'] / ref['qps']:.1f} | "
              f"{r['build_s']:.1f} | {r['build_s'] / ref['build_s']:.1f} | {r['bytes_per_vector']:,.1f} | "
              f"{r['bytes_per_vector'] / ref['bytes_per_vector']:.3f} | {r['rerank_bytes']:,.0f} |")
    met = [r["kind"] for r in rows[1:] if r["recall"] >= 0.95 and r["qps"] >= 20 * ref["qps"]
           and r["bytes_per_vector"] <= ref["bytes_per_vector"] / 4]
    print(f"\ntarget (recall@{args.k} >= 0.95, >= 20x exact QPS, <= 1/4 memory) met by: "
          f"{', '.join(met) if met else 'none'}")

    if not args.no_rss and "ivfpq" in kinds:
        directory = work / "ivfpq"
        t = time.perf_counter()
        write_passages(directory / "passages.jsonl", args.n)
        from rag_dialogue.paths import default_encoder_path
        from rag_dialogue.retrieval.encoder import resolve_encoder
        from rag_dialogue.utils import sha256_file

        meta = json.loads((directory / "meta.json").read_text())
        meta.update(encoder=resolve_encoder(default_encoder_path()), pooling="mean",
                    passages_sha256=sha256_file(directory / "passages.jsonl"))
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))
        np.save(work / "queries.npy", queries)
        print(f"\nwrote {args.n:,} passages ({(directory / 'passages.jsonl').stat().st_size / 2**20:.0f} MiB) "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        m = resident_memory(directory, work / "queries.npy", args.k)
        mib = lambda b: b / 2**20  # noqa: E731
        index_mib = mib((directory / "index.faiss").stat().st_size)
        print(f"retriever over {args.n:,} passages (ivfpq, {index_mib:.0f} MiB index file; "
              f"passage cache {m['cache']} of at most {m['cache_size']} entries):")
        print("| when | RSS MiB | anonymous MiB | file-backed MiB |\n|---|---:|---:|---:|")
        for when in ("before", "loaded", "after"):
            r = m[when]
            print(f"| {when} | {mib(r['VmRSS']):.0f} | {mib(r['RssAnon']):.0f} | {mib(r['RssFile']):.0f} |")
        print("(before = python with numpy; loaded = + torch, transformers, the query encoder, "
              "the index and the passage store; after = + searching the queries and reading their passages)")


if __name__ == "__main__":
    main()
