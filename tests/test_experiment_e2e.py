"""The main job end to end on a tiny recipe: every condition trained, evaluated and reported."""

import json

import pytest

from rag_dialogue.experiment import CONDITIONS, DEFAULT_SPLITS, RETRIEVAL, Config, run

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_family(tmp_path, tiny_bart_dir, tiny_encoder_dir):
    home = tmp_path / "home"
    (tmp_path / "tiny_base.yaml").write_text(f"""
rag_dialogue_data: embedded
rag_dialogue_passage_encoder: {tiny_encoder_dir}
model: rag_dialogue.agent:RagDialogueAgent
task: rag_dialogue.tasks.vital_articles.agents
datapath: {home}/data
index_dir: {home}/indexes/vital_articles
generator: {tiny_bart_dir}
va_num_articles: 24
va_unseen_articles: 8
va_train_conversations: 1
va_seen_episodes: 4
va_max_wizard_turns: 2
va_wow_train_episodes: 6
va_wow_valid_episodes: 3
n_docs: 5
rag_dialogue_selection_steps: 3
batchsize: 4
eval_batchsize: 4
text_truncate: 64
label_truncate: 12
optimizer: adamw
learningrate: 0.001
skip_generation: true
validation_every_n_secs: 100000
inference: greedy
""")
    for condition, rag_type in (("no_knowledge", "none"), ("gold_knowledge", "gold"),
                                ("rag_token", "token"), ("rag_sequence", "sequence"), ("fid", "fid")):
        (tmp_path / f"tiny_{condition}.yaml").write_text(
            f"base: {tmp_path}/tiny_base\nrag_type: {rag_type}\nn_docs: 3\nmax_train_steps: 3\n"
            + ("retrieval_gold_loss: 1.0\n" if rag_type == "fid" else ""))
    return str(tmp_path / "tiny")


def test_experiment_writes_results_tables_and_plots(tmp_path, tiny_family):
    out = tmp_path / "run"
    summary = run(Config(family=tiny_family, out=str(out), budget_minutes=60, eval_examples=4,
                         swap_examples=4, min_train_seconds=8, seed=5))
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for condition in CONDITIONS:  # the recipes' planned steps, well inside the time caps
        assert json.loads((out / condition / "model.trainstats").read_text())["parleys"] == 3, condition
        # --seed reaches every training (the recipes here set none)
        assert json.loads((out / condition / "model.opt").read_text())["seed"] == 5, condition
    assert on_disk["knowledge_selection"]["seed"] == 5 and on_disk["config"]["seed"] == 5
    assert set(on_disk) == {"conditions", "swap", "knowledge_selection", "training", "config", "wall_seconds"}
    # every stage records its planned and done steps (the selection's too)
    assert on_disk["training"]["rag_token"]["planned_steps"] == on_disk["training"]["rag_token"]["steps"] == 3
    assert on_disk["training"]["query_encoder"]["planned_steps"] == 3
    assert not any(t.get("stopped_by_time_guard") for t in on_disk["training"].values())
    # the retrieval conditions start from the query encoder trained on the gold knowledge
    selection = on_disk["knowledge_selection"]
    assert 1 <= selection["steps"] <= 3 and set(selection["eval"]["after"]) == {"recall@1", "recall@5"}
    assert (out / "query_encoder" / "config.json").exists()
    for condition in RETRIEVAL:
        opt = json.loads((out / condition / "model.opt").read_text())
        assert opt["query_encoder"] == str(out / "query_encoder")
    assert set(on_disk["conditions"]) == set(CONDITIONS)
    for condition in CONDITIONS:
        assert set(on_disk["conditions"][condition]) == set(DEFAULT_SPLITS["embedded"])
        for split in DEFAULT_SPLITS["embedded"]:
            metrics = on_disk["conditions"][condition][split]
            for name in ("ppl", "f1", "kf1", "rf1", "hallucination_rate"):
                assert name in metrics, (condition, split, name)
            assert ("recall@3" in metrics) == (condition in RETRIEVAL), (condition, split)  # eval_docs
    assert {"follow_rate", "stale_rate"} <= set(on_disk["swap"])
    assert (out / "results.md").read_text().startswith("# Retrieval and hallucination")
    assert (out / "metrics.png").stat().st_size > 1000
    assert (out / "hallucination.png").stat().st_size > 1000

    # a second run evaluates the same models without training them again
    stamp = (out / "rag_token" / "model").stat().st_mtime_ns
    encoder_stamp = (out / "query_encoder" / "model.safetensors").stat().st_mtime_ns
    again = run(Config(family=tiny_family, out=str(out), budget_minutes=60, eval_examples=4,
                       swap_examples=4, min_train_seconds=8, reuse_models=True))
    assert (out / "rag_token" / "model").stat().st_mtime_ns == stamp
    assert (out / "query_encoder" / "model.safetensors").stat().st_mtime_ns == encoder_stamp
    assert again["knowledge_selection"] == selection
    assert again["conditions"]["rag_token"]["test_unseen"]["ppl"] == pytest.approx(
        summary["conditions"]["rag_token"]["test_unseen"]["ppl"], rel=1e-4)
