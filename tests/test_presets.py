"""Recipes: inheritance, path expansion, conversion to a ParlAI .opt, clear errors."""

import json

import pytest

from rag_dialogue import presets
from rag_dialogue.strategies import RAG_TYPES


def test_every_shipped_preset_loads_with_its_base():
    names = presets.available()
    assert {"embedded_rag_token", "embedded_no_knowledge", "wow_bart_large_rag_token"} <= set(names)
    for name in names:
        opts = presets.load(name)
        assert opts["model"] == "rag_dialogue.agent:RagDialogueAgent", name
        assert opts["rag_type"] in RAG_TYPES, name


def test_wow_recipe_follows_shuster_et_al():
    opts = presets.load("wow_bart_large_rag_token")
    assert (opts["learningrate"], opts["batchsize"], opts["text_truncate"], opts["label_truncate"],
            opts["n_docs"]) == (1e-5, 16, 512, 128, 5)
    assert opts["generator"] == "facebook/bart-large"


def test_home_expands_in_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_DIALOGUE_HOME", str(tmp_path))
    assert presets.load("embedded_rag_token")["index_dir"] == f"{tmp_path}/indexes/vital_articles"


def test_to_opt_drops_recipe_keys_and_parlai_reads_it(tmp_path):
    from parlai.core.opt import Opt

    out = presets.write_opt_file("embedded_rag_token", tmp_path / "rag.opt")
    opt = Opt.load(str(out))
    assert opt["rag_type"] == "token" and "rag_dialogue_data" not in opt and "base" not in opt
    json.loads(out.read_text())


def test_family_given_as_path_prefix(tmp_path):
    (tmp_path / "mine_base.yaml").write_text("model: rag_dialogue.agent:RagDialogueAgent\nn_docs: 2\n")
    (tmp_path / "mine_rag_token.yaml").write_text(f"base: {tmp_path}/mine_base\nrag_type: token\n")
    assert presets.load(f"{tmp_path}/mine_rag_token") == {
        "model": "rag_dialogue.agent:RagDialogueAgent", "n_docs": 2, "rag_type": "token"}


def test_errors_name_the_preset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no preset 'nope'.*embedded_rag_token"):
        presets.load("nope")
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ValueError, match="inherits from itself"):
        presets.load(str(loop))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="bad.yaml: a preset is a mapping"):
        presets.load(str(bad))


def test_every_recipe_seeds_its_training():
    # ParlAI's train_model seeds nothing by default: two trainings of one recipe would differ
    for name in presets.available():
        assert isinstance(presets.load(name).get("seed"), int), name
