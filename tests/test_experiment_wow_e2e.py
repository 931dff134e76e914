"""The card's own recipes (`wow_bart_large_*`) run `rag-dialogue experiment` end to end.

The real recipe files are used as they ship: a tiny family inherits each of them and
swaps in only what this machine lacks (BART-large, DPR, the WoW download) and what keeps
the run short. The Wizard of Wikipedia data are real WoW conversations (the shipped
valid-seen sample) written where ParlAI's WoW build expects its download, so ParlAI
reads them without downloading.
"""

import json

import pytest

from rag_dialogue.experiment import CONDITIONS, Config, run

pytestmark = pytest.mark.slow


def write_wow_sample(datapath, n: int = 12):
    """A few real WoW conversations as ParlAI's five split files, data.json and `.built`."""
    from parlai.core.build_data import mark_done

    from rag_dialogue.tasks.wizard_of_wikipedia import seen

    episodes = seen.episodes("valid")[:n]
    third = n // 3
    folder = datapath / "wizard_of_wikipedia"
    folder.mkdir(parents=True)
    files = {"train.json": episodes[:third], "valid_random_split.json": episodes[third:2 * third],
             "test_random_split.json": episodes[2 * third:], "valid_topic_split.json": episodes[third:2 * third],
             "test_topic_split.json": episodes[2 * third:], "data.json": episodes}
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data))
    mark_done(str(folder), "1.0")


@pytest.fixture
def tiny_wow_family(tmp_path, tiny_bart_dir, tiny_encoder_dir):
    home = tmp_path / "home"
    write_wow_sample(home / "data")
    swapped = f"""
datapath: {home}/data
index_dir: {home}/indexes/wizard_of_wikipedia
generator: {tiny_bart_dir}
query_encoder: {tiny_encoder_dir}
rag_dialogue_passage_encoder: {tiny_encoder_dir}
rag_dialogue_selection_steps: 2
batchsize: 4
eval_batchsize: 4
text_truncate: 64
truncate: 64
label_truncate: 12
beam_min_length: 2
max_train_steps: 2
validation_every_n_epochs: -1
validation_max_exs: 4
short_final_eval: true
"""
    (tmp_path / "tinywow_base.yaml").write_text("base: wow_bart_large_base\n" + swapped)
    for condition in CONDITIONS:
        (tmp_path / f"tinywow_{condition}.yaml").write_text(f"base: wow_bart_large_{condition}\n" + swapped)
    return str(tmp_path / "tinywow")


def test_the_wow_bart_large_recipes_run_the_experiment(tmp_path, tiny_wow_family):
    out = tmp_path / "run"
    # WoW has no index swap: no evaluation time reserved for one (else the planner leaves
    # the stages only their minimum, and a busy machine's time guard cuts them)
    # one stage at a time, here (the embedded end-to-end test runs two at a time on 2 cores)
    summary = run(Config(family=tiny_wow_family, out=str(out), budget_minutes=60, eval_examples=4,
                         swap_examples=0, min_train_seconds=8, workers=1))
    assert set(summary["conditions"]) == set(CONDITIONS)
    for condition in CONDITIONS:
        assert set(summary["conditions"][condition]) == {"test_seen", "test_unseen"}  # no test_wow split
        for split, metrics in summary["conditions"][condition].items():
            for name in ("ppl", "f1", "kf1", "hallucination_rate", "read_out_rate"):
                assert name in metrics, (condition, split, name)
        opt = json.loads((out / condition / "model.opt").read_text())
        assert opt["rag_type"] == {"no_knowledge": "none", "gold_knowledge": "gold",
                                   "rag_token": "token", "rag_sequence": "sequence", "fid": "fid"}[condition]
        assert summary["training"][condition]["steps"] == 2
    # FiD trains its retriever by the gold-passage loss, as its recipe says
    assert json.loads((out / "fid" / "model.opt").read_text())["retrieval_gold_loss"] > 0
    assert summary["swap"] == {}  # WoW has no counterfactual index
    assert (out / "results.md").exists()
