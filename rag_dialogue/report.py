"""The experiment's results as a paper would print them: a Markdown table and PNG plots."""

from pathlib import Path

from rag_dialogue.utils import atomic_path

COLUMNS = ("ppl", "f1", "kf1", "rf1", "grounding_precision", "faithful_rate", "hallucination_rate",
           "no_claim_rate", "degenerate_rate", "read_out_rate", "decline_rate", "recall")
HEADERS = {"grounding_precision": "ground.", "faithful_rate": "faithful", "hallucination_rate": "halluc.",
           "no_claim_rate": "no claim", "degenerate_rate": "degen.", "read_out_rate": "read out",
           "decline_rate": "declines"}
SPLIT_TITLES = {"valid_wow": "valid wow (real Wizard of Wikipedia conversations, valid seen, held out "
                             "of training)",
                "test_wow": "test wow (real Wizard of Wikipedia conversations, test seen; "
                            "its knowledge is the index)"}
LABELS = {"no_knowledge": "No knowledge", "gold_knowledge": "Gold knowledge",
          "rag_token": "RAG-Token", "rag_sequence": "RAG-Sequence", "fid": "FiD-RAG"}


def _recall_columns(conditions: dict):
    """COLUMNS with its "recall" as the results' `recall@K` (K the passages the evaluation
    retrieved: 5 before 3), and K."""
    keys = {k for by_split in conditions.values() for m in by_split.values() for k in m if k.startswith("recall@")}
    recall = min(keys, default="recall@3", key=lambda k: int(k.split("@")[1]))
    return [recall if c == "recall" else c for c in COLUMNS], recall.split("@")[1]


def _cell(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    if value is None:
        return "-"
    return f"{value:.2f}" if name == "ppl" else f"{value:.3f}"


def results_markdown(summary: dict) -> str:
    conditions = summary["conditions"]
    splits = list(next(iter(conditions.values())).keys()) if conditions else []
    columns, k = _recall_columns(conditions)
    headers = {**HEADERS, f"recall@{k}": f"R@{k}"}
    lines = ["# Retrieval and hallucination", ""]
    for split in splits:
        lines += [f"## {SPLIT_TITLES.get(split, split.replace('_', ' '))}", "",
                  "| condition | " + " | ".join(headers.get(c, c.upper()) for c in columns) + " |",
                  "|---|" + "---:|" * len(columns)]
        for condition, by_split in conditions.items():
            metrics = by_split.get(split, {})
            lines.append(f"| {LABELS.get(condition, condition)} | "
                         + " | ".join(_cell(metrics, c) for c in columns) + " |")
        lines.append("")
    swap = summary.get("swap") or {}
    if swap:
        lines += ["## Index hot swap (RAG-Token, test counterfactual, no retraining)", "",
                  "| index | follows the index | states the old fact | responses stating a changed fact |",
                  "|---|---:|---:|---:|"]
        for name in ("counterfactual_index", "original_index"):
            if name in swap:
                m = swap[name]
                lines.append(f"| {name.replace('_', ' ')} | {_cell(m, 'follow_rate')} | "
                             f"{_cell(m, 'stale_rate')} | {m.get('responses_stating_a_changed_fact', '-')} |")
        lines.append("")
    training = summary.get("training") or {}
    if training:
        lines += ["## Training (steps planned and done)", "",
                  "| stage | planned steps | steps | seconds |", "|---|---:|---:|---:|"]
        for stage, t in training.items():
            cut = " (stopped by the time guard)" if t.get("stopped_by_time_guard") else ""
            lines.append(f"| {LABELS.get(stage, stage.replace('_', ' '))}{cut} | {t.get('planned_steps') or '-'} | "
                         f"{t.get('steps') if t.get('steps') is not None else '-'} | "
                         f"{t.get('seconds') if t.get('seconds') is not None else '-'} |")
        lines.append("")
    selection = (summary.get("knowledge_selection") or {}).get("eval")
    if selection:
        before, after = selection["before"], selection["after"]
        lines += ["## Knowledge selection (the query encoder both RAG models start from)", "",
                  f"Gold sentence ranked first on {selection['split'].replace('_', ' ')} "
                  f"({selection['examples']} turns): {before['recall@1']:.3f} before, "
                  f"{after['recall@1']:.3f} after {summary['knowledge_selection']['steps']} steps; "
                  f"among the 5 retrieved: {before['recall@5']:.3f} before, {after['recall@5']:.3f} after.", ""]
    madeup = summary.get("madeup")
    if madeup:
        lines += ["## Made-up articles added to the index (RAG-Token, no retraining)", "",
                  f"Stated the invented fact in {madeup['stated_fact']} of {madeup['asked']} answers.", "",
                  "| question | reply | states the fact |", "|---|---|---|"]
        for e in madeup["exchanges"]:
            reply = e["reply"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {e['question']} | {reply} | {'yes' if e['states_fact'] else 'no'} |")
        lines.append("")
    lines += [
        "F1, KF1 (against the gold knowledge sentence) and RF1 (rare words) as ParlAI computes "
        "them for Wizard of Wikipedia; ground. = grounding precision. Each response falls in one "
        "category: degen. (under 3 words, a word thrice in a row, a phrase twice in a row, or a "
        "looping response), no claim (nothing beyond the history and generic words; a reply that "
        "says it does not know), halluc. (hallucination score at least 0.5: says what neither "
        "the knowledge nor the history supports) or faithful; the four shares sum to 1. "
        "read out = 80% or more of the reply's words in one run of one knowledge sentence; "
        "declines = says it does not know. "
        f"R@{k} = gold passage among the {k} retrieved "
        "(definitions in the README).",
        f"Wall time: {summary.get('wall_seconds', 0) / 60:.1f} min.", ""]
    return "\n".join(lines)


def _save(fig, path: Path):
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_results(summary: dict, out: Path):
    """`metrics.png`: each metric per condition and split; `hallucination.png`: side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = summary["conditions"]
    names = list(conditions)
    splits = list(next(iter(conditions.values())).keys())
    metrics = [c for c in _recall_columns(conditions)[0] if c not in ("ppl", "decline_rate")]
    fig, axes = plt.subplots(2, 5, figsize=(22, 8))
    width = 0.8 / len(names)
    for ax, metric in zip(axes.flat, metrics):
        for i, condition in enumerate(names):
            values = [conditions[condition].get(s, {}).get(metric) or 0.0 for s in splits]
            ax.bar([x + i * width for x in range(len(splits))], values, width,
                   label=LABELS.get(condition, condition))
        ax.set_title(metric)
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(splits))])
        ax.set_xticklabels([s.replace("_", "\n") for s in splits])
        ax.set_ylim(0, 1)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Knowledge-grounded dialogue: metrics per condition and split")
    _save(fig, Path(out) / "metrics.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, condition in enumerate(names):
        values = [100 * (conditions[condition].get(s, {}).get("hallucination_rate") or 0.0) for s in splits]
        bars = ax.bar([x + i * width for x in range(len(splits))], values, width,
                      label=LABELS.get(condition, condition))
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(splits))])
    ax.set_xticklabels([s.replace("_", " ") for s in splits])
    ax.set_ylabel("hallucinated responses (%)")
    ax.set_title("Hallucinated-response rate")
    ax.legend(fontsize=8)
    _save(fig, Path(out) / "hallucination.png")
    plt.close(fig)
