"""Training killed with SIGKILL resumes from ParlAI's checkpoint to the same weights.

A tiny RAG model (random BART and query encoder, real passages) trains for a fixed
number of steps with a checkpoint after every step, once without interruption and
once killed at random moments and started again with the same command each time.
Between kills, the files on disk are checked as a later load would read them: each
is complete, and the checkpoint's statistics belong to its weights.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import vital_articles

pytestmark = pytest.mark.slow

STEPS = 14
KILLS = 4
KILLS_SURVIVED = []  # (run, step reached at the kill) for the README figures

TRAIN = """
import json, random, sys
import numpy, torch
random.seed(0); numpy.random.seed(0); torch.manual_seed(0); torch.set_num_threads(1)
import rag_dialogue
from parlai.scripts.train_model import TrainModel
TrainModel.main(**json.loads(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, passages_file, tiny_encoder_dir, tiny_bart_dir):
    from rag_dialogue.retrieval.retriever import build_index

    root = tmp_path_factory.mktemp("kill")
    task = root / "dialogues.txt"
    lines = []
    for title, text in vital_articles(10):
        sentence = text.split(". ")[0].rstrip(".") + "."
        fields = {"text": f"tell me about {title}", "labels": sentence, "episode_done": "True"}
        lines.append("\t".join(f"{k}:{v.replace(chr(9), ' ')}" for k, v in fields.items()))
    task.write_text("\n".join(lines) + "\n")
    index = build_index(passages_file, root / "index", encoder_name_or_path=str(tiny_encoder_dir),
                        show_progress=False)
    return dict(
        model="rag_dialogue.agent:RagDialogueAgent", task="fromfile:parlaiformat",
        fromfile_datapath=str(task), generator=str(tiny_bart_dir), index_dir=str(index),
        n_docs=2, batchsize=3, max_train_steps=STEPS, learningrate=1e-3, optimizer="adam",
        warmup_updates=4, skip_generation=True, validation_every_n_steps=-1,
        validation_max_exs=3, short_final_eval=True, log_every_n_steps=100,
        save_every_n_secs=1e-4, datapath=str(root / "data"),
    )


def start(opts: dict, model_file: Path) -> subprocess.Popen:
    args = json.dumps(dict(opts, model_file=str(model_file)))
    return subprocess.Popen([sys.executable, "-c", TRAIN, args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, HF_HUB_OFFLINE="1"))


def checkpoint_step(model_file: Path):
    try:
        return json.loads(Path(f"{model_file}.checkpoint.trainstats").read_text())["train_steps"]
    except (OSError, ValueError, KeyError):
        return None


def check_files_a_load_would_read(model_file: Path):
    """Every file on disk is whole, and the checkpoint's statistics belong to its weights."""
    import torch

    from rag_dialogue.compat import settle_save

    for name in (f"{model_file}.checkpoint", str(model_file)):
        settle_save(name)  # what the next start does first
        assert not Path(f"{name}.trainstats.pending").exists()
        if not Path(name).exists():
            assert not Path(f"{name}.trainstats").exists()
            continue
        states = torch.load(name, map_location="cpu", weights_only=False)
        json.loads(Path(f"{name}.opt").read_text())
        stats = json.loads(Path(f"{name}.trainstats").read_text())
        assert stats["number_training_updates"] == states["number_training_updates"], name
        assert stats["train_steps"] == states["number_training_updates"], name


def weights(model_file: Path) -> dict:
    import torch

    return torch.load(model_file, map_location="cpu", weights_only=False)["model"]


def test_training_killed_at_random_moments_resumes_to_the_same_weights(setup, tmp_path):
    whole = tmp_path / "whole" / "model"
    proc = start(setup, whole)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]

    killed = tmp_path / "killed" / "model"
    rng = random.Random(11)
    targets = sorted(rng.sample(range(1, STEPS - 1), KILLS))
    for target in targets:
        proc = start(setup, killed)
        while proc.poll() is None and (checkpoint_step(killed) or 0) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.15))  # somewhere in the next step or its save
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            KILLS_SURVIVED.append(checkpoint_step(killed))
        proc.wait(timeout=60)
        check_files_a_load_would_read(killed)
    proc = start(setup, killed)
    assert proc.wait(timeout=600) == 0, proc.stderr.read().decode()[-3000:]

    assert len(KILLS_SURVIVED) == KILLS, KILLS_SURVIVED
    reports = []
    for model_file in (whole, killed):
        stats = json.loads(Path(f"{model_file}.trainstats").read_text())
        assert stats["train_steps"] == stats["number_training_updates"] == STEPS
        reports.append(stats["final_valid_report"])
    assert reports[0]["ppl"] == reports[1]["ppl"]  # the final evaluation ran the final weights
    assert not list(killed.parent.glob("*.tmp*")) and not list(killed.parent.glob("*.pending"))
    assert json.loads(Path(f"{killed}.opt").read_text())["init_model"] is None  # not the checkpoint
    a, b = weights(whole), weights(killed)
    assert set(a) == set(b)
    for name in a:
        assert a[name].equal(b[name]), name


def test_an_interrupted_save_is_finished_or_undone(tmp_path):
    """settle_save: a pending statistics file is committed only if the model holds its step."""
    import torch

    from rag_dialogue.compat import settle_save

    mf = tmp_path / "model.checkpoint"
    torch.save({"model": {}, "number_training_updates": 7}, mf)
    (tmp_path / "model.checkpoint.trainstats").write_text(
        json.dumps({"train_steps": 6, "number_training_updates": 6}))

    # killed after the model was written, before the rename: finish the save
    Path(f"{mf}.trainstats.pending").write_text(
        json.dumps({"train_steps": 7, "number_training_updates": 7}))
    settle_save(str(mf))
    assert json.loads(Path(f"{mf}.trainstats").read_text())["train_steps"] == 7
    assert not Path(f"{mf}.trainstats.pending").exists()

    # killed before the model was written: the older pair stands
    Path(f"{mf}.trainstats.pending").write_text(
        json.dumps({"train_steps": 8, "number_training_updates": 8}))
    settle_save(str(mf))
    assert json.loads(Path(f"{mf}.trainstats").read_text())["train_steps"] == 7
    assert not Path(f"{mf}.trainstats.pending").exists()

    # killed while writing the pending file itself (never renamed into place): ignored
    Path(f"{mf}.trainstats.pending").write_text('{"train_steps": 9, "number_tr')
    settle_save(str(mf))
    assert json.loads(Path(f"{mf}.trainstats").read_text())["train_steps"] == 7


def test_opt_files_are_written_atomically(tmp_path, monkeypatch):
    """A failure while writing MODEL.opt leaves the previous file whole."""
    import rag_dialogue  # noqa: F401  (the patch)
    from parlai.core.opt import Opt

    path = tmp_path / "model.opt"
    Opt({"a": 1}).save(str(path))

    def die(fd):  # the new file is written, but never reaches the disk
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", die)
    with pytest.raises(OSError):
        Opt({"a": 2}).save(str(path))
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.opt"]  # no temporary file left


def test_a_restart_removes_what_a_kill_left_of_an_atomic_save(tmp_path):
    """A kill inside `atomic_path` (e.g. while MODEL.hf is written) leaves its temporary
    folder; the next training start removes it, and nothing of another model."""
    from rag_dialogue.compat import settle_save

    model = tmp_path / "model"
    left = [tmp_path / ".model.hf.x1y2.tmp", tmp_path / ".model.checkpoint.hf.a9b8.tmp", tmp_path / ".model.old-12"]
    other = tmp_path / ".model2.hf.x1y2.tmp"
    for folder in left + [other]:
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    settle_save(str(model))
    assert not any(p.exists() for p in left) and other.exists()
