"""The trained consistency checker: its synthetic pairs, and training and loading a tiny one."""

import json
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag_dialogue import checker

DATA = Path(__file__).parent / "data"
SENTENCE = "The Eiffel Tower, built in 1889, is the tallest structure in Paris and was designed by Gustave Eiffel."
NEIGHBOUR = "Locally nicknamed the Iron Lady, it was constructed as the centrepiece of the World's Fair."
STRANGER = "The Nile is a major north-flowing river in northeastern Africa."


@dataclass(frozen=True)
class Article:
    title: str
    sentences: tuple


def _words(text):
    return re.findall(r"[\w']+", text.lower())


def test_consistent_edits_say_only_the_sentences_words():
    rng = random.Random(0)
    for _ in range(200):
        edit = checker.consistent_edit(SENTENCE, "The Eiffel Tower", rng)
        assert set(_words(edit)) <= set(_words(SENTENCE)) | {"it"}, edit


def test_inconsistent_edits_change_the_sentence():
    rng = random.Random(0)
    edits = [e for e in (checker.inconsistent_edit(SENTENCE, NEIGHBOUR, STRANGER, rng) for _ in range(300)) if e]
    assert edits and all(e != SENTENCE for e in edits)
    # each kind of edit occurs: a swap keeps the words, a changed number, a negation, a stranger
    assert any(sorted(e.split()) == sorted(SENTENCE.split()) for e in edits)
    assert any("1889" not in e and re.search(r"\b\d{4},?\b", e) for e in edits)
    assert any("is not" in e or "was not" in e for e in edits)
    assert STRANGER in edits


def test_synthetic_pairs_are_balanced_and_deterministic():
    articles = [Article("The Eiffel Tower", (SENTENCE, NEIGHBOUR, "It is 330 metres tall and the most visited paid monument.")),
                Article("Nile", (STRANGER, "It is about 6,650 km long and flows into the Mediterranean Sea.",
                                 "The Nile has historically been considered the longest river in the world."))]
    pairs = checker.synthetic_pairs(articles, 200, seed=3)
    assert pairs == checker.synthetic_pairs(articles, 200, seed=3)
    assert 60 <= sum(p["label"] for p in pairs) <= 140
    assert all(p["knowledge"] and p["response"] for p in pairs)
    with pytest.raises(ValueError, match="three sentences"):
        checker.synthetic_pairs([Article("x", ("One sentence here.",))], 5)


def _tiny_classifier(out):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag_dialogue.paths import default_encoder_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForSequenceClassification(config).bert.save_pretrained(out)  # a base BERT, as the packaged one is
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_checker(tmp_path_factory):
    base = _tiny_classifier(tmp_path_factory.mktemp("tiny_base"))
    out = tmp_path_factory.mktemp("checkers") / "tiny"
    checker.train(out, [DATA / "labelled_responses.jsonl"], base=str(base), pairs=32, folds=2)
    return out


def test_train_writes_a_checker_that_loads_and_scores(tiny_checker):
    record = json.loads((tiny_checker / checker.COMBINATION_FILE).read_text())
    assert record["features"][-1] == "checker_logit" and len(record["weights"]) == len(record["features"])
    assert record["labelled"] == 43 and record["folds"] == 2
    loaded = checker.Checker(tiny_checker)
    knowledge = "Radiohead are an English rock band from Abingdon, Oxfordshire, formed in 1985."
    score = loaded.score("they are an english rock band formed in 1985 .", knowledge, "Do you like Radiohead?")
    assert 0.0 < score < 1.0
    assert isinstance(loaded.is_inconsistent("they were formed in 1985 .", knowledge, ""), bool)
    # an unsupported number lifts the score past the threshold, as inconsistency_score does
    assert loaded.score("they are an english rock band formed in 1991 , the third largest .", knowledge, "") >= 0.5
    assert not list(tiny_checker.parent.glob(".tiny.*")), "a temporary folder was left behind"


def test_validate_reports_the_checker_beside_the_lexical_measures(tiny_checker):
    result = subprocess.run(
        [sys.executable, "-m", "rag_dialogue.cli", "metrics", "validate", str(DATA / "labelled_responses.jsonl"),
         "--models", f"checker:{tiny_checker}"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "checker logit alone (trained)" in result.stdout
    assert "inconsistency_score + checker / is_inconsistent" in result.stdout


def test_bad_checker_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="test split"):
        checker.train(tmp_path / "c", [tmp_path / "q2_test.jsonl"])
    with pytest.raises(FileNotFoundError, match="no checker here"):
        checker.Checker(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rag_dialogue.cli", "metrics", "train-checker", "--out", str(tmp_path / "c"),
         "--labels", str(tmp_path / "missing.jsonl")], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "missing.jsonl" in result.stderr
    assert not (tmp_path / "c").exists()


def test_long_knowledge_is_cut_to_the_sentences_the_response_matches():
    filler = " ".join(f"Sentence number {i} says nothing at all about towers or rivers here." for i in range(20))
    knowledge = filler + " " + SENTENCE + " " + filler
    kept = checker.evidence("it was built in 1889 and designed by gustave eiffel", knowledge)
    assert SENTENCE in kept and len(kept.split()) <= checker.EVIDENCE_WORDS
    assert checker.evidence("anything", SENTENCE) == SENTENCE
    assert checker.evidence("anything", ["Title", SENTENCE]) == "Title\n" + SENTENCE
