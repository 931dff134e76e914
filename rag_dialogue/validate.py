"""`rag-dialogue metrics validate FILE`: how well the hallucination measures agree with people;
`rag-dialogue metrics score LOG`: the measures of the responses in ParlAI world logs.

A labelled file holds one response per row with its knowledge, its dialogue history and a
human label. TSV and CSV need a header row; JSONL has one object per line. Columns:

    knowledge   the knowledge the response should be grounded in
    history     the dialogue so far (or `message`: the previous turn; may be empty)
    response    the response that was labelled
    label       1 / 0 (true / false: 1 = hallucinated), or a name: hallucinated, unattributable, not fully attributable,
                inconsistent, unsupported -> 1; faithful, attributable, fully attributable,
                consistent, supported -> 0. `generic` rows make no claim and are skipped
                (their count is reported).
"""

import argparse
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_dialogue import metrics

HALLUCINATED_LABELS = frozenset({
    "1", "hallucinated", "hallucination", "unattributable", "not attributable",
    "not fully attributable", "inconsistent", "unsupported", "not supported",
})
FAITHFUL_LABELS = frozenset({
    "0", "faithful", "attributable", "fully attributable", "consistent", "supported",
})
SKIPPED_LABELS = frozenset({"generic"})
HISTORY_COLUMNS = ("history", "message", "context")
MAX_FIELD_CHARS = 1_000_000


class LabelledFileError(ValueError):
    """A labelled file that cannot be read; the message names the file and line."""

    def __init__(self, path, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Labelled:
    knowledge: str
    history: str
    response: str
    hallucinated: int  # 1: people found the response unsupported by its knowledge


def parse_label(value, path, line) -> int | None:
    """1 (hallucinated), 0 (faithful) or None (generic: skipped)."""
    name = " ".join(str(value).strip().lower().replace("_", " ").split())
    if name in ("1", "1.0", "true"):
        return 1
    if name in ("0", "0.0", "false"):
        return 0
    if name in HALLUCINATED_LABELS:
        return 1
    if name in FAITHFUL_LABELS:
        return 0
    if name in SKIPPED_LABELS:
        return None
    raise LabelledFileError(
        path, line, f"unknown label {value!r}; use 1/0 or one of "
        f"{', '.join(sorted(HALLUCINATED_LABELS - {'1'}))} (hallucinated) or "
        f"{', '.join(sorted(FAITHFUL_LABELS - {'0'}))} (faithful)")


def _rows(path: Path):
    """(line number, dict) per data row of a TSV, CSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".tsv", ".csv"):
        raise LabelledFileError(path, None, "unknown file type; use .tsv, .csv or .jsonl")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise LabelledFileError(path, None, f"not UTF-8 text ({e})") from None
    except OSError as e:
        raise LabelledFileError(path, None, f"cannot read: {e.strerror or e}") from None
    if suffix in (".jsonl", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise LabelledFileError(path, number, f"not valid JSON: {e.msg}") from None
            if not isinstance(row, dict):
                raise LabelledFileError(path, number, "each line must be a JSON object")
            yield number, row
        return
    csv.field_size_limit(MAX_FIELD_CHARS)
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix == ".tsv" else {}
    reader = csv.reader(text.splitlines(), **dialect)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise LabelledFileError(path, None, "is empty; it needs a header row") from None
    except csv.Error as e:
        raise LabelledFileError(path, 1, f"bad CSV: {e}") from None
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise LabelledFileError(path, number, f"has {len(row)} fields, the header {len(header)}")
            yield number, dict(zip(header, row))
    except csv.Error as e:
        raise LabelledFileError(path, reader.line_num, f"bad CSV: {e}") from None


def _label_column(row: dict) -> str | None:
    return next((c for c in ("label", "begin_label", "hallucinated", "hallucination") if c in row), None)


def read_labelled(path) -> tuple[list[Labelled], int]:
    """The labelled responses of `path` and how many `generic` rows were skipped."""
    path = Path(path)
    examples, skipped = [], 0
    for number, row in _rows(path):
        row = {str(k).strip().lower(): v for k, v in row.items()}
        label_column = _label_column(row)
        missing = [c for c in ("knowledge", "response") if c not in row]
        if label_column is None:
            missing.append("label")
        if missing:
            raise LabelledFileError(path, number, f"misses the field(s) {', '.join(missing)}")
        history = next((row[c] for c in HISTORY_COLUMNS if c in row), "") or ""
        fields = {"knowledge": row["knowledge"], "history": history, "response": row["response"]}
        for name, value in fields.items():
            if isinstance(value, list):
                value = "\n".join(map(str, value))
            if not isinstance(value, str):
                raise LabelledFileError(path, number, f"field {name!r} must be text")
            fields[name] = value
        label = parse_label(row[label_column], path, number)
        if label is None:
            skipped += 1
            continue
        examples.append(Labelled(hallucinated=label, **fields))
    if not examples:
        raise LabelledFileError(path, None, "holds no labelled responses")
    return examples, skipped


# ---- agreement statistics (pure) ----

def roc_auc(labels, scores) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is absent."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if not len(positives) or not len(negatives):
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positives, negatives]))
    return float((ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))


def confusion(labels, decisions) -> dict:
    """{tp, fp, tn, fn} with 1 = hallucinated."""
    labels, decisions = np.asarray(labels, dtype=bool), np.asarray(decisions, dtype=bool)
    return {"tp": int((labels & decisions).sum()), "fp": int((~labels & decisions).sum()),
            "tn": int((~labels & ~decisions).sum()), "fn": int((labels & ~decisions).sum())}


def balanced_accuracy(labels, decisions) -> float | None:
    """Mean of the recall of each class; None when one class is absent."""
    c = confusion(labels, decisions)
    if not (c["tp"] + c["fn"]) or not (c["tn"] + c["fp"]):
        return None
    return (c["tp"] / (c["tp"] + c["fn"]) + c["tn"] / (c["tn"] + c["fp"])) / 2


# ---- the measures compared ----

def token_f1_score(example: Labelled) -> float:
    """The baseline: 1 - ParlAI's token F1 of the response against the knowledge."""
    from parlai.core.metrics import F1Metric

    return 1.0 - F1Metric.compute(example.response, [example.knowledge]).value()


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # of each decision, for the sensitivity lines


def measures(models=(), examples=()) -> dict:
    """name -> (score function or None, decision function or None) over a Labelled.

    The default measure first, then the factual-consistency measure beside it, the evidence
    they combine and the baselines; `models`
    adds the model-based options by name ("lm", "checker:DIR"), which need a model and are
    slower (see `rag_dialogue.consistency`); a checker reads `examples` in batches first."""
    m = metrics
    table = {
        "hallucination_score / is_hallucinated": (
            lambda e: m.hallucination_score(e.response, e.knowledge, e.history),
            lambda e: m.is_hallucinated(e.response, e.knowledge, e.history)),
        "inconsistency_score / is_inconsistent": (
            lambda e: m.inconsistency_score(e.response, e.knowledge, e.history),
            lambda e: m.is_inconsistent(e.response, e.knowledge, e.history)),
        "worst claim sentence (per-sentence)": (
            lambda e: m.hallucination_features(e.response, e.knowledge, e.history)["worst_sentence"], None),
        "1 - grounding_precision": (
            lambda e: 1.0 - (m.grounding_precision(e.response, e.knowledge, e.history) or 0.0), None),
        "unsupported rare words (old decision)": (
            None, lambda e: bool(m.unsupported_rare_words(e.response, e.knowledge, e.history))),
        "1 - token F1 (baseline)": (token_f1_score, None),
    }
    if models:
        from rag_dialogue import consistency

        for name in models:
            table.update(consistency.measures(name, examples))
    return table


# decision -> (its score, its default threshold)
DECISIONS = {"is_hallucinated": (metrics.hallucination_score, metrics.HALLUCINATED_ABOVE),
             "is_inconsistent": (metrics.inconsistency_score, metrics.INCONSISTENT_ABOVE)}


def threshold_sensitivity(examples: list[Labelled], thresholds=THRESHOLDS, decision="is_hallucinated") -> dict:
    """Balanced accuracy of `decision` (is_hallucinated or is_inconsistent) were its threshold
    each of `thresholds` (degenerate and no-claim replies are never hallucinated, whatever
    the threshold)."""
    labels = [e.hallucinated for e in examples]
    score = DECISIONS[decision][0]
    babble = [metrics._is_babble(e.response, e.knowledge, e.history) for e in examples]
    scored = [(metrics._category(e.response, e.history, 0.0, degenerate) == "faithful",
               score(e.response, e.knowledge, e.history)) for e, degenerate in zip(examples, babble)]
    return {t: balanced_accuracy(labels, [claims and score >= t for claims, score in scored]) for t in thresholds}


def validate(examples: list[Labelled], models=()) -> dict:
    """name -> {auc, balanced_accuracy, confusion} of each measure on `examples`."""
    labels = [e.hallucinated for e in examples]
    results = {}
    for name, (score, decide) in measures(models, examples).items():
        row = {}
        if score is not None:
            row["auc"] = roc_auc(labels, [score(e) for e in examples])
        if decide is not None:
            decisions = [decide(e) for e in examples]
            row["balanced_accuracy"] = balanced_accuracy(labels, decisions)
            row["confusion"] = confusion(labels, decisions)
        results[name] = row
    return results


def format_report(path, results: dict, n: int, positives: int, skipped: int, sensitivity=None) -> str:
    """The markdown table of `validate`'s results; `sensitivity`: {decision: threshold_sensitivity}."""
    def fmt(value):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"

    lines = [f"{path}: {n} labelled responses, {positives} hallucinated"
             + (f", {skipped} generic skipped" if skipped else ""), "",
             f"| {'measure':40s} | ROC AUC | bal. acc. | tp | fp | tn | fn |",
             f"|{'-' * 42}|--------:|----------:|---:|---:|---:|---:|"]
    for name, row in results.items():
        c = row.get("confusion", {})
        lines.append(f"| {name:40s} | {fmt(row.get('auc')):>7s} | {fmt(row.get('balanced_accuracy')):>9s} "
                     f"| {c.get('tp', '-')} | {c.get('fp', '-')} | {c.get('tn', '-')} | {c.get('fn', '-')} |")
    if sensitivity:
        lines.append("")
        for decision, by_threshold in sensitivity.items():
            lines.append(f"{decision} at other thresholds (bal. acc.): "
                         + ", ".join(f"{t:.1f}: {fmt(b)}" for t, b in by_threshold.items())
                         + f" (default {DECISIONS[decision][1]})")
    return "\n".join(lines)


def score_world_log(path) -> dict:
    """Mean of each `metrics.score_response` measure over the responses of a ParlAI world
    log (JSONL, one episode per line, as `eval_model --world-logs` and the experiment write
    them), scored as the project's teachers score them."""
    path = Path(path)
    sums, counts = {}, {}
    for number, episode in _rows(path):
        history = []
        for pair in episode.get("dialog", []):
            if len(pair) < 2 or not isinstance(pair[0], dict) or not isinstance(pair[1], dict):
                raise LabelledFileError(path, number, "each dialog entry must be [teacher message, reply]")
            teacher, reply = pair[0], pair[1]
            history.append(teacher.get("text", ""))
            knowledge = teacher.get("rag_knowledge") or teacher.get("knowledge")
            if knowledge is not None and reply.get("text") is not None:
                scores = metrics.score_response(reply["text"], knowledge, history, teacher.get("changed_facts"))
                for name, value in scores.items():
                    sums[name] = sums.get(name, 0.0) + value
                    counts[name] = counts.get(name, 0) + 1
            history.extend((teacher.get("eval_labels") or teacher.get("labels") or [])[:1])
    if not counts:
        raise LabelledFileError(path, None, "holds no responses with knowledge to score")
    return {"exs": max(counts.values()), **{name: sums[name] / counts[name] for name in sorted(sums)}}


def add_subparser(subparsers):
    parser = subparsers.add_parser(
        "metrics", help="check the hallucination measures against human labels",
        description="Check the hallucination measures against human labels.")
    sub = parser.add_subparsers(dest="metrics_command", required=True)
    check = sub.add_parser(
        "validate", help="balanced accuracy, ROC AUC and confusion matrix of each measure on a labelled file",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("files", nargs="+", metavar="FILE", help="labelled responses (.tsv, .csv or .jsonl)")
    check.add_argument("--json", dest="json_out", default=None, help="also write the results as JSON here")
    check.add_argument("--models", default="", metavar="NAMES",
                       help="also the model-based measures, comma-separated: lm (the packaged SmolLM2's "
                       "likelihood ratio with and without the knowledge, 0.6-3 s a reply on 2 cores), "
                       "checker:DIR (a checker built by train-checker, alone and combined with "
                       "inconsistency_score; some 35 replies a second)")
    check.set_defaults(func=_cmd_validate)
    from rag_dialogue import checker

    trainer = sub.add_parser(
        "train-checker", help="build the trained factual-consistency checker (an option of validate)",
        description=checker.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainer.add_argument("--out", required=True, help="the checker's folder (written atomically)")
    trainer.add_argument("--labels", nargs="+", required=True, metavar="FILE",
                         help="labelled dev responses, as validate reads them (never a test split), "
                         "e.g. tests/data/q2_consistency_dev.jsonl tests/data/q2_cross_annotation_dev.jsonl")
    trainer.add_argument("--pairs", type=int, default=8000, help="synthetic pairs of the first stage")
    trainer.add_argument("--folds", type=int, default=5, help="fine-tunings for the out-of-fold logits")
    trainer.add_argument("--base", default=None,
                         help="a BERT folder to start from (default: the packaged all-MiniLM-L6-v2)")
    trainer.add_argument("--seed", type=int, default=0)
    trainer.set_defaults(func=_cmd_train_checker)
    score = sub.add_parser(
        "score", help="the hallucination measures of the responses in ParlAI world logs",
        description="Score the responses saved in ParlAI world logs (JSONL: eval_model --world-logs, or "
        "the experiment's CONDITION/SPLIT.jsonl) with the project's measures, as its teachers do.")
    score.add_argument("files", nargs="+", metavar="LOG", help="world-log JSONL files")
    score.set_defaults(func=_cmd_score)


def _cmd_train_checker(args) -> int:
    from rag_dialogue import checker

    combination = checker.train(args.out, args.labels, base=args.base, pairs=args.pairs, folds=args.folds,
                                seed=args.seed)
    weights = ", ".join(f"{n} {w:+.3f}" for n, w in zip(combination["features"], combination["weights"]))
    print(f"checker written to {args.out}; combination: {weights}, bias {combination['bias']:+.3f}")
    print("ROC AUC on the labels (the logit out of fold; the models 10-fold cross-validated): "
          + ", ".join(f"{name} {auc:.3f}" for name, auc in combination["roc_auc"].items()))
    print(f"use it: rag-dialogue metrics validate FILE... --models checker:{args.out}")
    return 0


def _cmd_score(args) -> int:
    names = ("faithful_rate", "hallucination_rate", "no_claim_rate", "degenerate_rate",
             "hallucination_score", "grounding_precision", "follow_rate")
    print("| log | exs | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for path in args.files:
        result = score_world_log(path)
        cells = [f"{result[n]:.3f}" if n in result else "-" for n in names]
        print(f"| {path} | {result['exs']} | " + " | ".join(cells) + " |")
    return 0


def _cmd_validate(args) -> int:
    from rag_dialogue.utils import atomic_path

    everything = {}
    for path in args.files:
        examples, skipped = read_labelled(path)
        models = [name for name in args.models.split(",") if name]
        results = validate(examples, models)
        sensitivity = {d: threshold_sensitivity(examples, decision=d) for d in DECISIONS}
        positives = sum(e.hallucinated for e in examples)
        print(format_report(path, results, len(examples), positives, skipped, sensitivity), end="\n\n")
        everything[str(path)] = {"n": len(examples), "hallucinated": positives,
                                 "generic_skipped": skipped, "measures": results,
                                 "threshold_sensitivity": {d: {str(t): b for t, b in by.items()}
                                                           for d, by in sensitivity.items()}}
    if args.json_out:
        with atomic_path(args.json_out) as tmp:
            Path(tmp).write_text(json.dumps(everything, indent=2) + "\n", encoding="utf-8")
    return 0
