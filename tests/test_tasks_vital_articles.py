"""The embedded vital-articles dataset: deterministic build, splits, counterfactuals, ParlAI teacher."""

import json
import re

import pytest

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue.tasks.vital_articles import build as va
from rag_dialogue.tasks.vital_articles.corpus import split_sentences
from rag_dialogue.tasks.wizard_of_wikipedia.agents import episode_problem
from rag_dialogue.utils import sha256_file

TASK = "rag_dialogue.tasks.vital_articles.agents"
SMALL = va.BuildConfig(num_articles=80, unseen_articles=20, train_conversations=2, seen_episodes=8,
                       wow_valid_episodes=4, wow_train_episodes=12)


@pytest.fixture(scope="module")
def datapath(tmp_path_factory):
    path = tmp_path_factory.mktemp("va")
    va.build(path, SMALL, log=lambda _: None)
    return path


def load(datapath, split):
    return json.loads(va.split_file(datapath, split).read_text())


def passages(datapath, counterfactual=False):
    lines = va.passages_file(datapath, counterfactual).read_text().splitlines()
    return [json.loads(line) for line in lines]


def teacher_messages(datapath, *args):
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    opt = ParlaiParser(True, False).parse_args(["-t", TASK, "--datapath", str(datapath), *args])
    teacher = create_task_agent_from_taskname(opt)[0]
    return [teacher.act() for _ in range(teacher.num_examples())]


def test_sentence_splitter_keeps_initials_and_abbreviations():
    text = "He met Arthur C. Clarke in the U.S. in 1964. It had a spin of 1. Then (Ok.) Done!"
    assert split_sentences(text) == ["He met Arthur C. Clarke in the U.S. in 1964.", "It had a spin of 1.",
                                     "Then (Ok.)", "Done!"]


def test_build_is_deterministic_and_cached(datapath, tmp_path):
    again = va.build(tmp_path, SMALL, log=lambda _: None)
    for name in ["train.json", "test_counterfactual_split.json", "data.json"]:
        first = va.root_dir(datapath) / "wizard_of_wikipedia" / name
        assert sha256_file(again / "wizard_of_wikipedia" / name) == sha256_file(first)
    assert sha256_file(va.passages_file(tmp_path)) == sha256_file(va.passages_file(datapath))
    stamp = (again / ".built").read_text()
    va.build(tmp_path, None, log=pytest.fail)  # any build will do: nothing happens
    va.build(tmp_path, SMALL, log=pytest.fail)
    assert (again / ".built").read_text() == stamp
    other = va.BuildConfig(**{**SMALL.__dict__, "seed": 1})
    va.build(tmp_path, other, log=lambda _: None)
    assert va.built_config(tmp_path) == other
    assert sha256_file(va.passages_file(tmp_path)) != sha256_file(va.passages_file(datapath))


def test_sizes_and_splits(datapath):
    sizes = va.read_sizes(datapath)
    train = load(datapath, "train")
    articles = [e for e in train if e["persona"]]  # real WoW conversations keep no persona
    train_titles = {e["chosen_topic"] for e in articles}
    assert len(articles) == 120 and len(train_titles) == 60 and sizes["train"]["episodes"] == 120 + 12
    assert len(load(datapath, "valid_wow")) == 4 and len(load(datapath, "test_wow")) == 965
    for split in va.SPLITS:
        episodes = load(datapath, split)
        assert sizes[split]["episodes"] == len(episodes) and sizes[split]["turns"] >= len(episodes)
        titles = {e["chosen_topic"] for e in episodes}
        if split.endswith("_wow"):
            continue
        if "seen" in split and "unseen" not in split:
            assert titles <= train_titles and len(episodes) == 8
        elif split != "train":
            assert not titles & train_titles and len(titles) == 10
    assert {e["chosen_topic"] for e in load(datapath, "valid_unseen")} == \
        {e["chosen_topic"] for e in load(datapath, "valid_counterfactual")}
    assert not {e["chosen_topic"] for e in load(datapath, "valid_unseen")} & \
        {e["chosen_topic"] for e in load(datapath, "test_unseen")}
    assert sizes["passages"] == len(passages(datapath))
    table = va.format_sizes(sizes)
    assert "valid_counterfactual" in table and "passages:" in table


def test_episodes_follow_the_wow_schema(datapath):
    for split in va.SPLITS:
        for episode in load(datapath, split):
            assert episode_problem(episode) is None
            assert {"chosen_topic", "chosen_topic_passage", "persona", "wizard_eval", "dialog"} <= set(episode)
            speakers = [t["speaker"] for t in episode["dialog"]]
            assert speakers == ["0_Apprentice", "1_Wizard"] * (len(speakers) // 2)
            for t in episode["dialog"][1::2]:
                if not t["checked_sentence"]:  # a real wizard who used no knowledge
                    assert split.endswith("_wow") or not episode["persona"]
                    continue
                (key, sentence), = t["checked_sentence"].items()
                assert key.startswith(f"chosen_{episode['chosen_topic'].replace(' ', '_')}_")
                assert sentence in episode["chosen_topic_passage"]
                assert sentence[5:] in t["text"] or not episode["persona"]  # real wizards paraphrase
                assert list(t["checked_passage"].values()) == [episode["chosen_topic"]]


def test_passage_files_hold_every_sentence_once(datapath):
    rows = passages(datapath)
    assert [set(r) for r in rows[:3]] == [{"id", "title", "text"}] * 3
    assert len({r["id"] for r in rows}) == len(rows)
    texts = {(r["title"], r["text"]) for r in rows}
    for split in va.SPLITS:
        if "counterfactual" in split or split == "test_wow":
            continue
        for e in load(datapath, split):
            assert {(e["chosen_topic"], s) for s in e["chosen_topic_passage"]} <= texts
    # the real WoW test knowledge has its own file, and none of it trains
    test_rows = [json.loads(line) for line in va.wow_test_passages_file(datapath).read_text().splitlines()]
    assert {(e["chosen_topic"], s) for e in load(datapath, "test_wow") for s in e["chosen_topic_passage"]} \
        == {(r["title"], r["text"]) for r in test_rows}


def test_counterfactual_changes_are_consistent(datapath):
    unseen = {e["chosen_topic"] for s in ("valid_unseen", "test_unseen") for e in load(datapath, s)}
    original = {r["id"]: r for r in passages(datapath)}
    changed = {r["id"]: r for r in passages(datapath, counterfactual=True)}
    assert original.keys() == changed.keys()
    assert all(original[i] == changed[i] for i in original if original[i]["title"] not in unseen)
    stated = 0
    for split in ("valid_counterfactual", "test_counterfactual"):
        for e in load(datapath, split):
            article = " ".join(e["chosen_topic_passage"])
            cf_rows = " ".join(r["text"] for r in changed.values() if r["title"] == e["chosen_topic"])
            assert cf_rows == article
            for old, new in e["counterfactual_changes"]:
                pattern = r"(?<![\w.,]){}(?![\w]|[.,]\d)"
                assert not re.search(pattern.format(re.escape(old)), article), (old, article)
            for t in e["dialog"][1::2]:
                for old, new in t["changed_facts"]:
                    stated += 1
                    assert new in t["text"] and new in list(t["checked_sentence"].values())[0]
    assert stated > 5


def test_teacher_messages_per_split(datapath):
    train = teacher_messages(datapath, "-dt", "train:ordered")
    assert len(train) == va.read_sizes(datapath)["train"]["turns"]
    first = train[0]
    for field in ("text", "labels", "checked_sentence", "title", "knowledge", "rag_knowledge"):
        assert first[field], field
    assert first["text"].startswith(first["title"] + "\n")
    assert f"{first['title']} / {first['checked_sentence']}" in first["rag_knowledge"].split("\n")
    assert "changed_facts" not in first

    seen = teacher_messages(datapath, "-dt", "valid")
    assert {m["chosen_topic"] for m in seen} == {e["chosen_topic"] for e in load(datapath, "valid_seen")}
    assert "eval_labels" in seen[0]
    unseen = teacher_messages(datapath, "-dt", "test", "--va-split", "test_unseen")
    assert {m["chosen_topic"] for m in unseen} == {e["chosen_topic"] for e in load(datapath, "test_unseen")}
    cf = teacher_messages(datapath, "-dt", "valid", "--va-split", "valid_counterfactual")
    assert all(isinstance(m["changed_facts"], list) for m in cf)
    assert any(m["changed_facts"] for m in cf)
    for m in cf:
        for old, new in m["changed_facts"]:
            assert new in m["eval_labels"][0] and old != new
    # any split under any datatype, e.g. evaluating on the train file
    assert len(teacher_messages(datapath, "-dt", "valid", "--va-split", "train")) == len(train)


def test_wow_task_suffix_picks_unseen(datapath):
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    opt = ParlaiParser(True, False).parse_args(
        ["-t", f"{TASK}:VitalArticlesTeacher:topic_split", "--datapath", str(datapath), "-dt", "valid"])
    teacher = create_task_agent_from_taskname(opt)[0]
    assert teacher.va_split == "valid_unseen"
    # the package name alone finds the default teacher, as for ParlAI's own tasks
    opt = ParlaiParser(True, False).parse_args(
        ["-t", "rag_dialogue.tasks.vital_articles", "--datapath", str(datapath), "-dt", "test"])
    assert create_task_agent_from_taskname(opt)[0].va_split == "test_seen"


def test_display_data_and_help(datapath, capsys):
    from parlai.core.params import ParlaiParser
    from parlai.scripts.display_data import DisplayData

    DisplayData.main(task=TASK, datapath=str(datapath), num_examples=3, va_split="test_counterfactual",
                     display_add_fields="changed_facts,rag_knowledge")
    out = capsys.readouterr().out
    assert "changed_facts" in out and "rag_knowledge" in out
    parser = ParlaiParser(True, False)
    parser.add_task_args(TASK, {})
    help_text = parser.format_help()
    assert "--va-split" in help_text and "valid_counterfactual" in help_text


def test_parlai_knowledge_f1_and_rare_word_f1(datapath):
    from parlai.scripts.eval_model import EvalModel

    report = EvalModel.main(task=TASK, model="repeat_label", datapath=str(datapath),
                            datatype="valid", va_split="valid_unseen")
    assert report["f1"] == 1 and report["rare_word_f1"] == 1
    assert 0.8 < report["knowledge_f1"] <= 1  # gold = checked sentence, maybe with a lead-in


CATEGORY_RATES = ("faithful_rate", "hallucination_rate", "no_claim_rate", "degenerate_rate")


@pytest.mark.parametrize("split", ["valid_unseen", "test_counterfactual"])
def test_the_teacher_scores_hallucination_for_any_agent(datapath, split):
    from parlai.scripts.eval_model import EvalModel

    gold = EvalModel.main(task=TASK, model="repeat_label", datapath=str(datapath),
                          datatype="valid", va_split=split)
    made_up = EvalModel.main(task=TASK, model="fixed_response", datapath=str(datapath),
                             datatype="valid", va_split=split,
                             fixed_response="The tower was painted green by Napoleon in 1850.")
    for report in (gold, made_up):
        assert abs(sum(report[name].value() for name in CATEGORY_RATES) - 1.0) < 1e-6
    assert gold["faithful_rate"] >= 0.95 and gold["hallucination_rate"] <= 0.02
    assert made_up["hallucination_rate"] == 1.0 and made_up["faithful_rate"] == 0.0
    assert gold["hallucination_score"] < 0.3 < 0.9 < made_up["hallucination_score"]
    if split == "test_counterfactual":  # the gold states the new facts
        assert gold["follow_rate"] == 1.0 and gold["stale_rate"] == 0.0


def test_data_build_command(tmp_path, capsys):
    from rag_dialogue.cli import main

    args = ["data", "build", "--datapath", str(tmp_path), "--num-articles", "30", "--unseen-articles", "6",
            "--seen-episodes", "3", "--train-conversations", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train" in out and "passages.jsonl" in out and "already built" not in out
    assert main(["data", "build", "--datapath", str(tmp_path)]) == 0
    assert "already built" in capsys.readouterr().out
    assert main(["data", "build", "--datapath", str(tmp_path / "x"), "--num-articles", "999999"]) == 2
    assert "articles" in capsys.readouterr().err


def test_changed_only_keeps_the_turns_an_index_swap_counts(tmp_path):
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    from rag_dialogue.tasks.vital_articles import build as va

    datapath = tmp_path / "data"
    va.build(datapath, va.BuildConfig(num_articles=40, unseen_articles=10, train_conversations=1,
                                      seen_episodes=4), log=lambda *a: None)

    def examples(changed_only):
        opt = ParlaiParser(True, True).parse_args([
            "-t", "rag_dialogue.tasks.vital_articles.agents", "--datapath", str(datapath),
            "--va-split", "test_counterfactual", "-dt", "test", "--va-changed-only", str(changed_only)])
        teacher = create_task_agent_from_taskname(opt)[0]
        return [teacher.act() for _ in range(teacher.num_examples())]

    everything, counted = examples(False), examples(True)
    changed = [m for m in everything if m.get("changed_facts")]
    assert changed and len(counted) < len(everything)
    assert [m["eval_labels"] for m in counted if m.get("changed_facts")] == [m["eval_labels"] for m in changed]
    assert counted[-1]["changed_facts"] and counted[-1]["episode_done"]


def test_the_demos_held_out_topic_is_in_the_experiments_index(datapath):
    """The demo's closing chat talks from the experiment's index (`rag-dialogue chat` builds
    the whole corpus's at its first use): the article it asks about must be in it."""
    from rag_dialogue.experiment import _held_out_topic

    topic = _held_out_topic({"rag_dialogue_data": "embedded", "datapath": str(datapath)})
    assert topic in {p["title"] for p in passages(datapath)}
    assert topic not in {e["chosen_topic"] for e in load(datapath, "train")}
