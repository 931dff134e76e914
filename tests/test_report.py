"""The experiment's table and plots from a results summary."""

from PIL import Image

from rag_dialogue.experiment import CONDITIONS, SPLITS
from rag_dialogue.report import plot_results, results_markdown


def summary():
    conditions = {
        c: {s: {"ppl": 10.0 + i, "f1": 0.1 * i, "kf1": 0.2, "rf1": 0.05,
                "grounding_precision": 0.5 + 0.1 * i, "hallucination_rate": 0.6 - 0.1 * i,
                **({"recall@5": 0.7} if "rag" in c else {})}
            for s in SPLITS}
        for i, c in enumerate(CONDITIONS)
    }
    swap = {"counterfactual_index": {"follow_rate": 0.75, "stale_rate": 0.1,
                                     "responses_stating_a_changed_fact": 20},
            "original_index": {"follow_rate": 0.05, "stale_rate": 0.9},
            "follow_rate": 0.75, "stale_rate": 0.1}
    return {"conditions": conditions, "swap": swap, "config": {}, "wall_seconds": 600}


def test_markdown_table_has_every_condition_split_and_the_swap():
    md = results_markdown(summary())
    for split in SPLITS:
        assert f"## {split.replace('_', ' ')}" in md
    assert md.count("| RAG-Token |") == len(SPLITS)
    assert "| counterfactual index | 0.750 | 0.100 | 20 |" in md
    assert "| No knowledge | 10.00 | 0.000 |" in md  # ppl with 2 decimals, rates with 3
    assert "| 0.700 |" in md and "| - |" in md  # recall only where retrieval happens
    assert "| R@5 |" in md and "among the 5 retrieved" in md
    assert "Knowledge selection" not in md


def test_the_recall_column_names_the_passages_retrieved():
    data = summary()
    for by_split in data["conditions"].values():
        for metrics in by_split.values():
            if "recall@5" in metrics:
                metrics["recall@3"] = metrics.pop("recall@5")
    md = results_markdown(data)
    assert "| R@3 |" in md and "R@5" not in md and "| 0.700 |" in md and "among the 3 retrieved" in md


def test_markdown_reports_the_knowledge_selection_when_there_was_one():
    stats = {"steps": 100, "eval": {"split": "valid_unseen", "examples": 399,
                                    "before": {"recall@1": 0.373, "recall@5": 0.845},
                                    "after": {"recall@1": 0.619, "recall@5": 0.965}}}
    md = results_markdown({**summary(), "knowledge_selection": stats})
    assert ("Gold sentence ranked first on valid unseen (399 turns): 0.373 before, 0.619 after 100 "
            "steps; among the 5 retrieved: 0.845 before, 0.965 after.") in md


def test_plots_are_written_as_png(tmp_path):
    plot_results(summary(), tmp_path)
    for name in ("metrics.png", "hallucination.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size[0] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hallucination.png", "metrics.png"]
