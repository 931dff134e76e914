"""Wizard of Wikipedia through ParlAI's real teacher code, on a WoW-schema fixture (offline)."""

import json

import pytest

import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
from rag_dialogue.tasks.wizard_of_wikipedia.agents import WowDataError, load_wow_file
from rag_dialogue.tasks.wizard_of_wikipedia.export import export_passages

TASK = "rag_dialogue.tasks.wizard_of_wikipedia.agents"
BLUE = ["Blue is one of the three primary colours of pigments.", "It lies between violet and cyan on the spectrum."]
SKY = ["The sky appears blue because of Rayleigh scattering.", "At sunset it turns red."]
GUARD = ["A lifeguard supervises the safety of swimmers.", "Lifeguards are trained in first aid."]
VOLCANO = ["A volcano is a rupture in the crust of a planet.", "Mount Etna is an active volcano in Sicily."]


def turn(speaker, text, passages=(), checked=None):
    entry = {"speaker": speaker, "text": text, "retrieved_topics": [t for p in passages for t in p],
             "retrieved_passages": [dict(p) for p in passages]}
    if checked is not None:  # (title, sentence) or "none" for WoW's explicit no_passages_used
        if checked == "none":
            entry["checked_sentence"] = {"no_passages_used": "no_passages_used"}
            entry["checked_passage"] = {"no_passages_used": "no_passages_used"}
        else:
            title, sentence = checked
            key = title.replace(" ", "_")
            entry["checked_sentence"] = {f"partner_{key}_0": sentence}
            entry["checked_passage"] = {f"partner_{key}": title}
    return entry


def episodes():
    blue = {"chosen_topic": "Blue", "chosen_topic_passage": BLUE, "persona": "i like blue.", "wizard_eval": 5,
            "dialog": [
                turn("0_Apprentice", "I love the colour blue!", [{"Blue": BLUE}, {"Sky": SKY}]),
                turn("1_Wizard", "Me too! Blue is one of the three primary colours of pigments.",
                     [{"Sky": SKY}], checked=("Blue", BLUE[0])),
                turn("0_Apprentice", "Why is the sky blue?", [{"Sky": SKY}]),
                turn("1_Wizard", "The sky appears blue because of Rayleigh scattering.", [],
                     checked=("Sky", SKY[0])),
            ]}
    # wizard first, an explicit no_passages_used, and a turn with no checked_sentence at all
    guard = {"chosen_topic": "Lifeguard", "chosen_topic_passage": GUARD, "persona": "i swim.", "wizard_eval": 4,
             "dialog": [
                 turn("0_Wizard", "Hi! Do you like swimming?", [{"Lifeguard": GUARD}], checked="none"),
                 turn("1_Apprentice", "Yes, at the beach.", [{"Lifeguard": GUARD}]),
                 turn("0_Wizard", "Then you have seen lifeguards watching swimmers.", []),
                 turn("1_Apprentice", "What do they learn?", []),
                 turn("0_Wizard", "Lifeguards are trained in first aid.", [], checked=("Lifeguard", GUARD[1])),
             ]}
    volcano = {"chosen_topic": "Volcano", "chosen_topic_passage": VOLCANO, "persona": "i hike.", "wizard_eval": 5,
               "dialog": [
                   turn("0_Apprentice", "Volcanoes scare me.", [{"Volcano": VOLCANO}]),
                   turn("1_Wizard", "Mount Etna is an active volcano in Sicily.", [], checked=("Volcano", VOLCANO[1])),
               ]}
    return blue, guard, volcano


def write_wow(datapath, files=None):
    """The five split files plus data.json and ParlAI's `.built` (version 1.0, so no download)."""
    from parlai.core.build_data import mark_done

    blue, guard, volcano = episodes()
    folder = datapath / "wizard_of_wikipedia"
    folder.mkdir(parents=True, exist_ok=True)
    files = files or {
        "train.json": [blue, guard], "valid_random_split.json": [guard, blue],
        "test_random_split.json": [blue], "valid_topic_split.json": [volcano],
        "test_topic_split.json": [volcano],
    }
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data))
    (folder / "data.json").write_text(json.dumps([blue, guard, volcano]))
    mark_done(str(folder), "1.0")
    return folder


@pytest.fixture
def wow_datapath(tmp_path):
    write_wow(tmp_path)
    return tmp_path


def teacher_messages(datapath, task=TASK, datatype="valid", *extra):
    from parlai.core.params import ParlaiParser
    from parlai.core.teachers import create_task_agent_from_taskname

    opt = ParlaiParser(True, False).parse_args(["-t", task, "--datapath", str(datapath), "-dt", datatype, *extra])
    teacher = create_task_agent_from_taskname(opt)[0]
    return [teacher.act() for _ in range(teacher.num_examples())]


def test_messages_carry_the_fields_the_agent_reads(wow_datapath):
    msgs = teacher_messages(wow_datapath, datatype="valid")
    assert len(msgs) == 2 + 2  # guard (wizard first: 2 examples, as ParlAI counts) + blue
    blue = msgs[2]
    assert blue["text"] == "Blue\nI love the colour blue!"
    assert blue["eval_labels"] == ["Me too! Blue is one of the three primary colours of pigments."]
    assert (blue["title"], blue["checked_sentence"]) == ("Blue", BLUE[0])
    assert blue["knowledge"].startswith("no_passages_used __knowledge__ no_passages_used\nBlue __knowledge__ ")
    assert blue["rag_knowledge"].split("\n") == [f"Blue / {s}" for s in BLUE] + [f"Sky / {s}" for s in SKY]
    # second wizard turn: the previous apprentice and wizard retrievals, de-duplicated by title
    assert msgs[3]["rag_knowledge"].count("Sky / ") == 2 and msgs[3]["title"] == "Sky"
    train = teacher_messages(wow_datapath, datatype="train:ordered")
    assert train[0]["labels"] == blue["eval_labels"] and "eval_labels" not in train[0]


def test_missing_checked_sentence_is_no_passages_used_like_parlai(wow_datapath):
    guard = teacher_messages(wow_datapath, datatype="valid")[:2]
    assert guard[0]["text"] == "Lifeguard"  # wizard first: ParlAI's topic-only opening example
    assert guard[0]["checked_sentence"] == guard[0]["title"] == "no_passages_used"
    assert guard[1]["checked_sentence"] == guard[1]["title"] == "no_passages_used"  # field absent
    assert "no_passages_used" not in guard[1]["rag_knowledge"]


def test_seen_and_unseen_splits_use_parlai_task_suffix(wow_datapath):
    seen = teacher_messages(wow_datapath, f"{TASK}:GeneratorTeacher:random_split", "test")
    unseen = teacher_messages(wow_datapath, f"{TASK}:GeneratorTeacher:topic_split", "test")
    assert {m["chosen_topic"] for m in seen} == {"Blue"}
    assert {m["chosen_topic"] for m in unseen} == {"Volcano"}
    assert len(teacher_messages(wow_datapath, "rag_dialogue.tasks.wizard_of_wikipedia", "test")) == 2


def test_knowledge_f1_and_rare_word_f1_are_reported(wow_datapath):
    from parlai.scripts.eval_model import EvalModel

    report = EvalModel.main(task=TASK, model="repeat_label", datapath=str(wow_datapath), datatype="valid")
    assert report["exs"] == 4
    assert 0 < report["knowledge_f1"] <= 1 and "rare_word_f1" in report
    assert report["f1"] == 1


@pytest.mark.parametrize("damage, where", [
    (lambda text: text[: text.index('"Lifeguard"') + 40], "episode 1"),  # truncated inside episode 1
    (lambda text: "this is not json", "not valid JSON"),
    (lambda text: json.dumps([json.loads(text)[0], {k: v for k, v in json.loads(text)[1].items() if k != "dialog"}]),
     "episode 1: misses required field 'dialog'"),
    (lambda text: text.replace('"text": "Why is the sky blue?", ', ""),
     "episode 0: turn 2 misses required field 'text'"),
])
def test_bad_files_name_the_file_and_the_episode(wow_datapath, damage, where):
    path = wow_datapath / "wizard_of_wikipedia" / "train.json"
    path.write_text(damage(path.read_text()))
    with pytest.raises(WowDataError, match=where) as err:
        teacher_messages(wow_datapath, datatype="train:ordered")
    assert str(path) in str(err.value)
    with pytest.raises(WowDataError, match=where):
        load_wow_file(path)


def test_export_deduplicates_every_retrieved_passage(wow_datapath, tmp_path):
    folder = wow_datapath / "wizard_of_wikipedia"
    counts = export_passages(folder, tmp_path / "p.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [set(r) for r in rows] == [{"id", "title", "text"}] * len(rows)
    pairs = [(r["title"], r["text"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == counts["passages_written"] == 8  # 4 titles x 2 sentences
    assert ("Sky", SKY[1]) in pairs and len({r["id"] for r in rows}) == len(rows)
    assert counts["passages_seen"] > counts["passages_written"]
    export_passages(folder, tmp_path / "q.jsonl", granularity="passage")
    assert ("Blue", " ".join(BLUE)) in [(json.loads(x)["title"], json.loads(x)["text"])
                                        for x in (tmp_path / "q.jsonl").read_text().splitlines()]


def test_export_command(wow_datapath, tmp_path, capsys):
    from rag_dialogue.cli import main

    out = tmp_path / "wow.jsonl"
    assert main(["data", "export-wow-passages", "--datapath", str(wow_datapath), "--out", str(out)]) == 0
    assert "8 passages" in capsys.readouterr().out and out.is_file()
    assert main(["data", "export-wow-passages", "--datapath", str(tmp_path / "empty"), "--no-download"]) == 2
    assert "no Wizard of Wikipedia files" in capsys.readouterr().err


def test_training_on_grounded_replies_keeps_the_dropped_turns_in_the_history(tmp_path):
    made_up = "Napoleon painted it in 1850 with Prussian ink."
    blue, guard, _ = episodes()
    blue["dialog"][3]["text"] = made_up  # the second wizard reply: in neither its sentence nor the dialogue
    blue["dialog"] += [turn("0_Apprentice", "And at sunset?", []),
                       turn("1_Wizard", "At sunset it turns red.", [], checked=("Sky", SKY[1]))]
    write_wow(tmp_path, {"train.json": [blue, guard]})
    every = teacher_messages(tmp_path, TASK, "train:ordered")
    grounded = teacher_messages(tmp_path, TASK, "train:ordered", "--train-on", "grounded")
    assert [m["labels"][0] for m in every[:3]] == [blue["dialog"][1]["text"], made_up, "At sunset it turns red."]
    assert made_up not in [m["labels"][0] for m in grounded]
    sunset = next(m for m in grounded if m["labels"] == ["At sunset it turns red."])
    # what the agent's history would have held: the dropped message and reply, then this one
    assert sunset["text"] == f"Why is the sky blue?\n{made_up}\nAnd at sunset?"
    assert grounded[0]["text"] == every[0]["text"] and not grounded[0]["episode_done"]
    # a question claims nothing: kept; "Then you have seen lifeguards watching swimmers"
    # has no checked sentence and says what nobody said: dropped, the episode ends before it
    assert [m["labels"][0] for m in grounded[2:]] == ["Hi! Do you like swimming?"]
    assert grounded[2]["episode_done"] and len(every) == len(grounded) + 2
    # evaluation reads every turn, whatever the option says
    assert len(teacher_messages(tmp_path, TASK, "train:evalmode", "--train-on", "grounded")) == len(every)
    # a second teacher of the same data (the experiment's next stage) decides from the memo
    from rag_dialogue.tasks.wizard_of_wikipedia.agents import _supported

    hits = _supported.cache_info().hits
    assert teacher_messages(tmp_path, TASK, "train:ordered", "--train-on", "grounded") == grounded
    assert _supported.cache_info().hits >= hits + len(every)
