"""The experiment's evaluation of each condition: this decoding against the previous way.

Evaluates the trained models of a run (`runs/embedded/<condition>/model`) on the same
examples through the experiment's own `evaluate` (ParlAI's eval_model, the teacher's
measures), two ways, alternating which goes first:

  before    every row is stepped until the batch's last reply ends, the loss pass runs
            every response to the batch's longest, and RAG-Sequence re-scores its
            hypotheses in a forced pass per example
  now       a row whose reply has ended leaves the decoding cache and the names and
            numbers rules (`CausalLMBackend.drop_ended_rows`), and the loss pass runs groups of rows
            to their own longest response (`CausalLMBackend.group_forced_rows`), and
            RAG-Sequence re-scores the whole batch's hypotheses in passes of up to 64
            (`strategies._pair_log_likelihoods`)

With --before-docs N, "before" is this decoding with N passages retrieved (the experiment's
eval_docs before it became the 3 the recipes train with) and "now" with --docs. With
--before-head-cast, "before" is this decoding with the output layer's weight cast to bf16
by autocast at every call (`CausalLMBackend.bf16_head_copy` off) and "now" with its bf16 copy.

It prints per condition the median seconds of each way, their ratio (measured in the same
run), how many replies are the same, and the measures of both. The machine may be noisy:
read the ratio, and the run names its CPU.

    .venv/bin/python bench/bench_eval.py [--run runs/embedded] [--conditions rag_token,fid]
        [--split valid_wow] [--examples 32] [--repeats 1] [--docs 3] [--before-docs 5 | --before-head-cast]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import itertools
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rag_dialogue import progress
from rag_dialogue import strategies
from rag_dialogue.backends import CausalLMBackend
from rag_dialogue.experiment import RETRIEVAL, evaluate
from rag_dialogue.presets import split_options

CONDITIONS = ("no_knowledge", "gold_knowledge", "rag_token", "rag_sequence", "fid")
WAYS = {"before": False, "now": True}
SHOWN = ("ppl", "f1", "hallucination_rate", "faithful_rate", "read_out_rate")


def replies(log_file: Path) -> list:
    """The model's replies in a world log, in order."""
    out = []
    for line in log_file.read_text().splitlines():
        out.extend(turn[1].get("text", "") for turn in json.loads(line)["dialog"])
    return out


BATCHED_PAIRS = strategies._pair_log_likelihoods


def set_way(way: str, docs: int):
    CausalLMBackend.drop_ended_rows = CausalLMBackend.group_forced_rows = WAYS[way]

    def per_example(agent, per_pair, pairs):  # the previous way: one pass per example's pairs
        return torch.cat([BATCHED_PAIRS(agent, per_pair, list(group))
                          for _, group in itertools.groupby(pairs, key=lambda pair: pair[0] // docs)])

    strategies._pair_log_likelihoods = BATCHED_PAIRS if WAYS[way] else per_example


def run_way(way: str, model_file: Path, split: str, examples: int, docs: int, folder: Path, before_docs=None,
            before_head_cast=False):
    if before_docs:  # both ways decode as now; "before" retrieves before_docs passages
        docs = before_docs if way == "before" else docs
    set_way("now" if before_docs or before_head_cast else way, docs)
    CausalLMBackend.bf16_head_copy = not (before_head_cast and way == "before")
    opt = json.loads(Path(str(model_file) + ".opt").read_text())
    base = {k: opt[k] for k in ("task", "datapath", "index_dir", "eval_batchsize", "inference",
                                "beam_block_ngram", "beam_min_length") if k in opt}
    overrides = {**split_options("embedded", split)}
    if opt.get("rag_type") in RETRIEVAL or model_file.parent.name in RETRIEVAL:
        overrides["n_docs"] = docs  # as the experiment evaluates
    log_file = folder / f"{model_file.parent.name}.{way}.jsonl"
    started = time.perf_counter()
    measures = evaluate(model_file, base, overrides, examples, log_file=log_file)
    return time.perf_counter() - started, measures, replies(log_file)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/embedded", help="an experiment's output folder")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--split", default="valid_wow", help="develop on valid splits: test splits are for reporting")
    ap.add_argument("--examples", type=int, default=32)
    ap.add_argument("--docs", type=int, default=3, help="passages retrieved, as the experiment's eval_docs")
    ap.add_argument("--before-docs", type=int, help="compare against this decoding with this many passages")
    ap.add_argument("--before-head-cast", action="store_true",
                    help="compare against this decoding with the output layer cast by autocast at every call")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each way (medians are reported)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, progress.logs_to(Path(tmp) / "eval.log"):
        for condition in args.conditions.split(","):
            model_file = Path(args.run) / condition / "model"
            if not model_file.is_file():
                raise SystemExit(f"{model_file}: no trained model (run `rag-dialogue experiment` first)")
            seconds, results = {w: [] for w in WAYS}, {}
            for repeat in range(args.repeats):
                order = list(WAYS) if repeat % 2 == 0 else list(WAYS)[::-1]
                for way in order:
                    took, measures, said = run_way(way, model_file, args.split, args.examples, args.docs, Path(tmp),
                                                  args.before_docs, args.before_head_cast)
                    seconds[way].append(took)
                    results[way] = (measures, said)
            same = sum(a == b for a, b in zip(results["before"][1], results["now"][1]))
            rows.append((condition, {w: statistics.median(s) for w, s in seconds.items()}, same,
                         len(results["now"][1]), {w: r[0] for w, r in results.items()}))
    set_way("now", args.docs)
    print(f"\n{platform.machine()} {platform.processor() or ''}, {args.split}, {args.examples} examples, "
          f"median of {args.repeats} run(s) per way")
    print("| condition | before s | now s | ratio | same replies | " + " | ".join(f"{m} before / now" for m in SHOWN) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(SHOWN))
    for condition, median, same, total, measures in rows:
        values = " | ".join(f"{measures['before'].get(m, float('nan')):.3f} / {measures['now'].get(m, float('nan')):.3f}"
                            for m in SHOWN)
        print(f"| {condition} | {median['before']:.1f} | {median['now']:.1f} | {median['now'] / median['before']:.2f} "
              f"| {same}/{total} | {values} |")
    total = {w: sum(r[1][w] for r in rows) for w in WAYS}
    print(f"all conditions: {total['before']:.1f} s -> {total['now']:.1f} s, ratio {total['now'] / total['before']:.2f}")


if __name__ == "__main__":
    main()
