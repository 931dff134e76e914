"""`rag-dialogue metrics validate`: labelled files in, agreement with people out."""

import json

import pytest

from rag_dialogue import cli, validate

SHIPPED = "tests/data/labelled_responses.jsonl"  # responses of this project's models, labelled by hand


def test_statistics_against_hand_computed_values():
    labels = [1, 1, 0, 0]
    assert validate.roc_auc(labels, [0.9, 0.4, 0.5, 0.1]) == 0.75  # 3 of 4 pairs ordered right
    assert validate.roc_auc(labels, [0.5, 0.5, 0.5, 0.5]) == 0.5  # ties count half
    assert validate.roc_auc([1, 1], [0.1, 0.2]) is None
    assert validate.confusion(labels, [True, False, True, False]) == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert validate.balanced_accuracy([1, 0, 0, 0], [True, True, False, False]) == (1.0 + 2 / 3) / 2


def test_shipped_labels_score_above_the_token_f1_baseline():
    examples, skipped = validate.read_labelled(SHIPPED)
    assert len(examples) >= 40 and skipped == 0
    assert 10 <= sum(e.hallucinated for e in examples) <= len(examples) - 10
    results = validate.validate(examples)
    ours = results["hallucination_score / is_hallucinated"]
    baseline = results["1 - token F1 (baseline)"]
    assert ours["auc"] > baseline["auc"] + 0.1
    assert ours["auc"] >= 0.9 and ours["balanced_accuracy"] >= 0.8


# public development labels of other kinds (see tests/data/README.md); the weights were fitted on them
CONSISTENCY = "tests/data/q2_consistency_dev.jsonl"  # factual consistency of model responses (Q²)
CROSS = "tests/data/q2_cross_annotation_dev.jsonl"  # the same kind: Q²'s cross-annotated responses
MIXED = "tests/data/faithdial_audit_wow_dev.jsonl"  # attribution of gold and model responses mixed
HALLUCINATION, INCONSISTENCY = "hallucination_score / is_hallucinated", "inconsistency_score / is_inconsistent"


@pytest.mark.parametrize("path, measure, auc, balanced", [
    (CONSISTENCY, HALLUCINATION, 0.78, 0.69), (MIXED, HALLUCINATION, 0.86, 0.75),
    (CONSISTENCY, INCONSISTENCY, 0.82, 0.74), (CROSS, INCONSISTENCY, 0.68, 0.63)])
def test_other_kinds_of_labels_score_above_the_token_f1_baseline(path, measure, auc, balanced):
    examples, _ = validate.read_labelled(path)
    results = validate.validate(examples)
    ours = results[measure]
    assert ours["auc"] > results["1 - token F1 (baseline)"]["auc"]
    assert ours["auc"] >= auc and ours["balanced_accuracy"] >= balanced
    decision = measure.split(" / ")[1]
    sensitivity = validate.threshold_sensitivity(examples, decision=decision)
    assert sensitivity[0.5] == ours["balanced_accuracy"] and set(sensitivity) == set(validate.THRESHOLDS)


@pytest.mark.parametrize("path", [CONSISTENCY, CROSS])
def test_each_score_agrees_best_with_the_kind_of_label_it_was_fitted_for(path):
    """On development data (the held-out figures are in the README)."""
    results = validate.validate(validate.read_labelled(path)[0])
    assert results[INCONSISTENCY]["auc"] > results[HALLUCINATION]["auc"] + 0.02
    mixed = validate.validate(validate.read_labelled(MIXED)[0])
    assert mixed[HALLUCINATION]["auc"] > mixed[INCONSISTENCY]["auc"] + 0.03


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
def test_every_format_and_label_name_reads_alike(tmp_path, suffix):
    rows = [("Bermuda is in the Atlantic.", "Where is Bermuda?", "It is in the Atlantic.", "Fully attributable"),
            ("Bermuda is in the Atlantic.", "Where is Bermuda?", "It is near Hawaii.", "not fully attributable"),
            ("Bermuda is in the Atlantic.", "", "Cool!", "Generic"),
            ("Bermuda is in the Atlantic.", "", "It has 3 moons.", "1")]
    path = tmp_path / f"labels{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(("knowledge", "message", "response", "label"), r))) + "\n"
                                for r in rows))
    else:
        sep = "\t" if suffix == ".tsv" else ","
        path.write_text("\n".join(sep.join(r) for r in [("knowledge", "message", "response", "begin_label"), *rows]))
    examples, skipped = validate.read_labelled(path)
    assert skipped == 1 and [e.hallucinated for e in examples] == [0, 1, 1]
    assert examples[0].history == "Where is Bermuda?"


@pytest.mark.parametrize("content, message", [
    ("knowledge\tresponse\tlabel\nk\tr\tmaybe\n", "labels.tsv:2: unknown label 'maybe'"),
    ("knowledge\tresponse\nk\tr\n", "labels.tsv:2: misses the field(s) label"),
    ("knowledge\tresponse\tlabel\nk\tr\n", "labels.tsv:2: has 2 fields, the header 3"),
    ("", "labels.tsv: is empty"),
    ("knowledge\tresponse\tlabel\n", "labels.tsv: holds no labelled responses"),
])
def test_bad_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "labels.tsv"
    path.write_text(content)
    with pytest.raises(validate.LabelledFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate.read_labelled(path)


def test_bad_json_line_and_unknown_suffix(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"knowledge": "k", "response": "r", "label": 0}\n{"knowledge": \n')
    with pytest.raises(validate.LabelledFileError, match="labels.jsonl:2: not valid JSON"):
        validate.read_labelled(path)
    with pytest.raises(validate.LabelledFileError, match="use .tsv, .csv or .jsonl"):
        validate.read_labelled(tmp_path / "labels.xlsx")


def test_command_prints_each_measure_and_writes_json(tmp_path, capsys):
    out = tmp_path / "agreement.json"
    assert cli.main(["metrics", "validate", SHIPPED, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in (HALLUCINATION, INCONSISTENCY, "worst claim sentence", "1 - token F1 (baseline)",
                 "ROC AUC", "bal. acc.", "is_hallucinated at other thresholds",
                 "is_inconsistent at other thresholds"):
        assert name in printed
    saved = json.loads(out.read_text())[SHIPPED]
    assert saved["n"] >= 40 and set(saved["measures"]["hallucination_score / is_hallucinated"]) == {
        "auc", "balanced_accuracy", "confusion"}
    assert set(saved["threshold_sensitivity"]) == {"is_hallucinated", "is_inconsistent"}
    assert set(saved["threshold_sensitivity"]["is_inconsistent"]) == {str(t) for t in validate.THRESHOLDS}
    bad = tmp_path / "bad.tsv"
    bad.write_text("knowledge\tresponse\tlabel\nk\tr\tmaybe\n")
    assert cli.main(["metrics", "validate", str(bad)]) == 2
    assert "bad.tsv:2: unknown label" in capsys.readouterr().err


def test_model_based_measures_are_named_options():
    with pytest.raises(ValueError, match="unknown model-based measure 'nope'"):
        validate.measures(("nope",))
    assert "hallucination_score / is_hallucinated" in validate.measures()
