"""How often each of the chat's sentence checks fires, on model replies and on human ones.

The chat takes back a reply that joins its passages into a claim none makes, or answers
nothing of what was asked (`rag_dialogue/reply_checks.py`). A check
that fires on what people write takes good replies back, so each is counted on:

  model   every reply of an experiment's world logs (`RUN/CONDITION/SPLIT.jsonl`), against
          the knowledge the wizard saw and the passages retrieved for it
  human   the human wizard replies of the same logs (the gold-knowledge condition's labels)
  wow     the wizard replies of the shipped WoW valid-seen conversations, against their
          checked sentences (pass --wow '' to leave them out)

and prints, per check, the count and, with --show N, the first N replies it fired on.

    .venv/bin/python scripts/chat_rule_firings.py [--run runs/embedded] [--show 3]
"""

import argparse
import glob
import gzip
import json
from pathlib import Path

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue import metrics, reply_checks

# what the chat checks beside its sentence checks: the measures, counted elsewhere
MEASURES = ("claims_nothing", "degenerate", "hallucinated", "hallucinated_sentence")
WOW_VALID = Path(__file__).resolve().parent.parent / "tasks/wizard_of_wikipedia/data/wow_valid_seen.fsb.json.gz"


def checks(passages, history):
    """Each of the chat's sentence checks (`reply_checks.checks`, less the measures of
    claim and support) by name: what it returns for a reply."""
    turns = list(history) or [""]
    return {name: test for name, test in reply_checks.checks(passages, turns, turns[:-1])
            if name not in MEASURES}


def _pairs(knowledge: str) -> list:
    """(title, text) pairs of a WoW `knowledge` or `rag_knowledge` field."""
    out = []
    for line in (knowledge or "").split("\n"):
        for separator in (" / ", " __knowledge__ "):
            if separator in line:
                out.append(tuple(line.split(separator, 1)))
                break
        else:
            if line.strip():
                out.append(("", line))
    return [(title, text) for title, text in out if text != metrics.NO_PASSAGE]


def replies_of_run(run: Path):
    """(kind, reply, passages, history) for every reply of a run's world logs."""
    for path in sorted(glob.glob(str(run / "*" / "*.jsonl"))):
        for line in open(path, encoding="utf-8"):
            for teacher, model in json.loads(line).get("dialog", []):
                history = teacher["text"].split("\n")
                passages = (_pairs(teacher.get("rag_knowledge")) + _pairs(teacher.get("knowledge"))
                            + [(p["title"], p["text"]) for p in model.get("retrieved_docs", [])])
                yield "model", model.get("text", ""), passages, history
                if Path(path).parent.name == "gold_knowledge" and teacher.get("eval_labels"):
                    yield "human", teacher["eval_labels"][0], passages, history


def replies_of_wow(path: Path):
    """('wow', wizard reply, its checked sentences, the dialogue before it) of shipped WoW."""
    for conversation in json.load(gzip.open(path, "rt", encoding="utf-8")):
        passages = [("", sentence[0]) for sentence in conversation["meta"] if sentence]
        history = []
        for turn in conversation["dialogue"]:
            if len(turn) < 2:
                continue
            history.append(turn[0])
            yield "wow", turn[1], passages, list(history)
            history.append(turn[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="runs/embedded", help="an experiment's output folder")
    ap.add_argument("--wow", default=str(WOW_VALID), help="shipped WoW conversations ('' to skip)")
    ap.add_argument("--show", type=int, default=0, help="print the first N replies each check fires on")
    args = ap.parse_args()
    sources = [replies_of_run(Path(args.run))] + ([replies_of_wow(Path(args.wow))] if args.wow else [])
    totals, fired, shown = {}, {}, {}
    for source in sources:
        for kind, reply, passages, history in source:
            totals[kind] = totals.get(kind, 0) + 1
            for name, check in checks(passages, history).items():
                if check(reply):
                    fired[(name, kind)] = fired.get((name, kind), 0) + 1
                    if len(shown.setdefault(name, [])) < args.show:
                        shown[name].append(f"  {kind}: {reply[:160]}")
    kinds = [k for k in ("model", "human", "wow") if k in totals]
    print("| check | " + " | ".join(f"{k} ({totals[k]:,})" for k in kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for name in checks([], []):
        print(f"| {name} | " + " | ".join(str(fired.get((name, k), 0)) for k in kinds) + " |")
    for name, lines in shown.items():
        print(f"\n{name}:\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
