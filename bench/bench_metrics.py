"""How fast the hallucination measures score responses: 5,000 by default, on 2 cores.

Scores --n responses of the embedded dataset's train split (the wizard's gold responses
and, for every other one, a made-up variant with a swapped number and name), each against
its topic knowledge (all passages shown to the wizard, 5-15 sentences) and its dialogue
history, exactly as the teachers do (`metrics.score_response`: category, hallucination
score, grounding precision, and the inconsistency score from the same features). The
reference, timed in the same run on the same triples, is ParlAI's token F1 of the response
against the knowledge (`F1Metric.compute`, the baseline measure).
Reports the median seconds of --repeats passes for each and their ratio, and whether the
default measure keeps within its budget (5,000 replies in under a minute on 2 cores).
--lm N also times the model-based option (`rag_dialogue.consistency.lm_ratio`, the packaged
SmolLM2's likelihood ratio) on the first N triples, after one warm-up reply, and gives its
seconds for --n replies at that rate. --checker DIR times the trained checker's combined score
(`rag_dialogue.checker.Checker.score`, a checker `rag-dialogue metrics train-checker` built)
on all --n, once.

    .venv/bin/python bench/bench_metrics.py [--n 5000] [--repeats 3] [--lm 20] [--checker DIR]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import itertools
import json
import statistics
import time

from rag_dialogue import metrics
from rag_dialogue.paths import default_datapath
from rag_dialogue.tasks.vital_articles import build as va
from rag_dialogue.tasks.wizard_of_wikipedia.agents import format_knowledge, topic_knowledge


def triples(n: int) -> list:
    va.build(default_datapath())
    episodes = json.loads(va.split_file(default_datapath(), "train").read_text())
    out = []
    for episode in itertools.cycle(episodes):
        history = [episode["chosen_topic"]]
        for i, turn in enumerate(episode["dialog"]):
            if "checked_sentence" in turn:
                response = turn["text"]
                if len(out) % 2:
                    response = f"{response} It was founded in {1000 + len(out)} by Napoleon."
                out.append((response, format_knowledge(topic_knowledge(episode, i)), list(history)))
                if len(out) == n:
                    return out
            history.append(turn["text"])


def timed(fn, data) -> float:
    start = time.perf_counter()
    for response, knowledge, history in data:
        fn(response, knowledge, history)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lm", type=int, default=0, metavar="N", help="also time the LM likelihood ratio on N replies")
    parser.add_argument("--checker", default=None, metavar="DIR", help="also time the trained checker built in DIR")
    args = parser.parse_args()
    from parlai.core.metrics import F1Metric

    data = triples(args.n)
    metrics.default_rare_words()  # loaded once per process, not per response
    ours, baseline = [], []
    for _ in range(args.repeats):
        metrics._knowledge_index.cache_clear()  # every pass pays for reading the knowledge
        metrics._content_stems.cache_clear()
        ours.append(timed(metrics.score_response, data))
        baseline.append(timed(lambda r, k, h: F1Metric.compute(r, [k]), data))
    o, b = statistics.median(ours), statistics.median(baseline)
    rates = [metrics.response_category(*t) for t in data]
    print(f"{args.n} responses, median of {args.repeats} passes")
    print("| measure | seconds | responses/s | ratio to token F1 |\n|---|---:|---:|---:|")
    print(f"| score_response (category, both scores, grounding) | {o:.1f} | {args.n / o:.0f} | {o / b:.2f} |")
    print(f"| token F1 vs knowledge (ParlAI, reference) | {b:.1f} | {args.n / b:.0f} | 1.00 |")
    if args.lm:
        from rag_dialogue import consistency

        consistency.lm_ratio(*data[0])  # loads the model
        lm = timed(consistency.lm_ratio, data[:args.lm]) * args.n / args.lm
        print(f"| LM likelihood ratio (packaged SmolLM2; {args.lm} timed, {lm / args.n:.2f} s a reply) "
              f"| {lm:.0f} | {args.n / lm:.2f} | {lm / b:.0f} |")
    if args.checker:
        from rag_dialogue.checker import Checker

        checker = Checker(args.checker)
        checker.score(*data[0])  # the first call pays for torch's start
        start = time.perf_counter()
        checker.read([(response, knowledge) for response, knowledge, _ in data])  # batched, as validate does
        c = time.perf_counter() - start + timed(checker.score, data)
        print(f"| trained checker + lexical evidence (Checker.score) | {c:.1f} | {args.n / c:.0f} | {c / b:.1f} |")
    budget = 60.0 * args.n / 5000
    print(f"default measure within budget ({budget:.0f} s for {args.n}): {'yes' if o < budget else 'NO'}")
    print("categories: " + ", ".join(f"{c} {rates.count(c) / len(rates):.3f}" for c in metrics.CATEGORIES))


if __name__ == "__main__":
    main()
