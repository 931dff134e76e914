"""The agent through ParlAI's own scripts: train, reload, evaluate, display, chat.

A tiny task of real Wikipedia sentences, a tiny index over real passages (tiny
random encoder), and the tiny random generator: the point is the plumbing, not the
scores.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_article_dialogues

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory):
    """ParlAI-format dialogues asking about real articles; the wizard answers with a sentence."""
    return write_article_dialogues(tmp_path_factory.mktemp("task") / "dialogues.txt", 12, gold_knowledge=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_task, tiny_index, tiny_bart_dir):
    from parlai.scripts.train_model import TrainModel

    model_file = tmp_path_factory.mktemp("model") / "model"
    TrainModel.main(
        model="rag_dialogue.agent:RagDialogueAgent", model_file=str(model_file),
        task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
        generator=str(tiny_bart_dir), index_dir=str(tiny_index), n_docs=3,
        batchsize=4, max_train_steps=6, validation_every_n_steps=3, validation_max_exs=4,
        learningrate=1e-3, optimizer="adam", skip_generation=True, datapath=str(model_file.parent),
        log_every_n_steps=2, retrieval_gold_loss=0.5,
    )
    return model_file


def test_training_writes_a_self_contained_model(trained):
    for suffix in ("", ".opt", ".dict", ".hf/generator/config.json", ".hf/query_encoder/config.json"):
        assert Path(f"{trained}{suffix}").exists(), suffix
    opt = json.loads(Path(f"{trained}.opt").read_text())
    assert opt["rag_type"] == "token" and opt["n_docs"] == 3 and opt["retrieval_gold_loss"] == 0.5


def test_eval_model_reports_rag_metrics(trained, tiny_task):
    from parlai.scripts.eval_model import EvalModel

    report = EvalModel.main(
        model_file=str(trained), task="fromfile:parlaiformat", fromfile_datapath=str(tiny_task),
        batchsize=4, inference="beam", beam_size=2, label_truncate=12, skip_generation=False,
        datapath=str(trained.parent),
    )
    for metric in ("ppl", "f1", "recall@3"):
        assert metric in report, metric
    # grounding and hallucination are the teacher's to score (this project's teachers do)
    assert "hallucination_rate" not in report
    assert report["exs"] == 12
    assert 0 <= report["recall@3"] <= 1


def test_resumed_training_loads_the_saved_weights(trained, tiny_task):
    import torch
    from parlai.core.agents import create_agent_from_model_file

    agent = create_agent_from_model_file(str(trained))
    saved = torch.load(trained, map_location="cpu", weights_only=False)["model"]
    for name, value in agent.model.state_dict().items():
        assert torch.equal(value, saved[name]), name


def test_display_model(trained, tiny_task, capsys):
    from parlai.scripts.display_model import DisplayModel

    DisplayModel.main(model_file=str(trained), task="fromfile:parlaiformat",
                      fromfile_datapath=str(tiny_task), num_examples=2, skip_generation=False,
                      datapath=str(trained.parent))
    out = capsys.readouterr().out
    assert out.count("    model: ") == 2 and "labels: " in out


def test_interactive_chat_through_the_parlai_command(trained):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    parlai = Path(sys.executable).parent / "parlai"
    proc = subprocess.run(
        [str(parlai), "interactive", "-mf", str(trained), "--print-docs", "true",
         "--datapath", str(trained.parent)],
        input="tell me about the accordion\n[EXIT]\n", capture_output=True, text=True,
        env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[retrieved passages]" in proc.stdout
    assert "[RagDialogue]:" in proc.stdout


@pytest.mark.parametrize("ending", ["[EXIT]\n", ""])  # "" = Ctrl-D (end of input)
def test_chat_survives_empty_long_and_non_ascii_input(trained, tiny_index, ending):
    rag_dialogue = Path(sys.executable).parent / "rag-dialogue"
    turns = ["", "accordion " * 2000, "¿Qué es Zürich? 東京タワー 😀 naïve café"]
    proc = subprocess.run(
        [str(rag_dialogue), "chat", "-mf", str(trained), "--index", str(tiny_index),
         "--print-docs", "--attribution", "--datapath", str(trained.parent)],
        input="\n".join(turns) + "\n" + ending, capture_output=True, text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("[retrieved passages]") >= 2 and proc.stdout.count("[attribution]") >= 1
    # "¿Qué es Zürich?" names what the tiny index does not hold
    assert "[RagDialogue]: I'm sorry, I don't know anything about Qué or Zürich." in proc.stdout
    assert "Traceback" not in proc.stderr and "INFO" not in proc.stdout + proc.stderr


def test_chat_without_a_model_says_what_to_do(tmp_path):
    from rag_dialogue.cli import main

    assert main(["chat", "-mf", str(tmp_path / "missing")]) == 2


def test_shared_model_installs_and_evaluates_the_same(trained, tiny_task, tmp_path):
    """zoo pack -> zoo install -> parlai eval_model gives the original model's numbers."""
    from parlai.scripts.eval_model import EvalModel

    from rag_dialogue import zoo

    archive = zoo.pack(trained, tmp_path / "model.tar.gz")
    installed = zoo.install(archive, dest=tmp_path / "zoo")
    assert Path(installed).parent != trained.parent
    reports = [
        EvalModel.main(model_file=str(mf), task="fromfile:parlaiformat",
                       fromfile_datapath=str(tiny_task), batchsize=4, skip_generation=True,
                       datapath=str(tmp_path))
        for mf in (trained, installed)
    ]
    assert reports[0]["exs"] == reports[1]["exs"] == 12
    assert abs(reports[0]["ppl"].value() - reports[1]["ppl"].value()) < 1e-3


def test_chat_survives_bytes_that_are_not_utf8_and_a_huge_line(trained, tiny_index):
    """A pipe may carry anything: bad bytes become U+FFFD, a 24 MiB line is cut, the chat goes on."""
    rag_dialogue = Path(sys.executable).parent / "rag-dialogue"
    data = (b"caf\xe9 \xff\xfe accordion\n" + b"accordion " * (24 << 17) + b"\n"
            + "¿Qué es Zürich?".encode() + b"\n[EXIT]\n")
    proc = subprocess.run(
        [str(rag_dialogue), "chat", "-mf", str(trained), "--index", str(tiny_index),
         "--print-docs", "--attribution", "--datapath", str(trained.parent)],
        input=data, capture_output=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr[-3000:]
    assert proc.stdout.count(b"[RagDialogue]:") >= 3  # (a replaced streamed reply shows twice)
    assert "message cut to its first 1,048,576 bytes" in stderr
    assert "Traceback" not in stderr


def test_agent_answers_any_text(trained):
    """What the chat hands the agent, fuzzed: any text gets a reply, nothing escapes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from parlai.core.agents import create_agent_from_model_file

    from test_fuzz_readers import count

    agent = create_agent_from_model_file(
        str(trained), opt_overrides={"interactive_mode": True, "skip_generation": False,
                                     "datapath": str(trained.parent)})

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(st.text(max_size=300), st.booleans())
    def reply(text, done):
        count("chat input into the agent")
        agent.observe({"text": text, "episode_done": done})
        assert isinstance(agent.act()["text"], str)
        if done:
            agent.reset()

    reply()


def test_a_chat_retrieves_by_its_last_message_beside_the_whole_dialogue(trained):
    """After greetings, the whole chat's query vector found other mountains for "What's the
    tallest mountain in the world?": in a chat the last message's own vector weighs
    --retrieval-message-weight (0.5 by default) beside it; elsewhere it weighs nothing."""
    import torch
    from parlai.core.agents import create_agent_from_model_file

    def batch_of(overrides):
        agent = create_agent_from_model_file(
            str(trained), opt_overrides={"skip_generation": False, "datapath": str(trained.parent), **overrides})
        agent.observe({"text": "Hi! How are you today?", "episode_done": False})
        agent.self_observe({"text": "I'm fine, thanks."})
        agent.observe({"text": "What is an accordion?", "episode_done": False})
        return agent, agent.batchify([agent.observation])

    agent, batch = batch_of({"interactive_mode": False})
    assert batch.rag_input.message_query is None and batch.rag_input.message_weight == 0.0
    agent, batch = batch_of({"interactive_mode": True})
    assert batch.rag_input.message_weight == 0.5
    agent, batch = batch_of({"interactive_mode": True, "retrieval_message_weight": 1.0})
    inp = batch.rag_input
    tokenizer = agent.model.query_encoder.tokenizer
    assert tokenizer.decode(inp.message_query["input_ids"][0], skip_special_tokens=True) == "what is an accordion?"
    agent.model.eval()
    with torch.no_grad():
        mixed, _ = agent.model.retrieve(inp.query, message_query=inp.message_query, message_weight=1.0)
        alone, _ = agent.model.retrieve(inp.message_query)
    assert [p.text for p in mixed[0].passages] == [p.text for p in alone[0].passages]
