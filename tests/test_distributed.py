"""ParlAI's multi-process training (torch.distributed on gloo, no GPU) with the agent."""

import json
from pathlib import Path

import pytest
import torch

from conftest import write_article_dialogues

WORLD = 2


def _average_in_worker(rank, port, grads, out):
    import torch.distributed as dist

    from rag_dialogue.agent import average_gradients

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=WORLD, rank=rank)
    model = torch.nn.Linear(3, 2)
    model.bias.requires_grad_(False)  # frozen: left alone
    model.weight.grad = grads[rank]
    average_gradients(model)
    torch.save(model.weight.grad, f"{out}.{rank}")
    dist.destroy_process_group()


def test_gradients_are_averaged_across_workers(tmp_path):
    from parlai.utils.distributed import find_free_port

    grads = [torch.randn(2, 3, generator=torch.Generator().manual_seed(i)) for i in range(WORLD)]
    torch.multiprocessing.spawn(_average_in_worker, args=(find_free_port(), grads, tmp_path / "g"),
                                nprocs=WORLD)
    mean = (grads[0] + grads[1]) / 2
    for rank in range(WORLD):
        torch.testing.assert_close(torch.load(tmp_path / f"g.{rank}"), mean)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_article_dialogues(tmp_path_factory.mktemp("task") / "dialogues.txt", 16)


def train_options(model_file, task, tiny_index, tiny_bart_dir, **extra):
    return dict(
        model="rag_dialogue.agent:RagDialogueAgent", model_file=str(model_file),
        task="fromfile:parlaiformat", fromfile_datapath=str(task), generator=str(tiny_bart_dir),
        index_dir=str(tiny_index), n_docs=3, max_train_steps=8, validation_every_n_steps=100,
        validation_max_exs=4, learningrate=3e-3, optimizer="adam", skip_generation=True,
        datapath=str(model_file.parent), log_every_n_steps=4, **extra)


def evaluate(model_file, task):
    from parlai.scripts.eval_model import EvalModel

    return EvalModel.main(model_file=str(model_file), task="fromfile:parlaiformat",
                          fromfile_datapath=str(task), batchsize=8, skip_generation=True,
                          datapath=str(model_file.parent))


def multiprocess_train(model_file, task, tiny_index, tiny_bart_dir, **extra):
    from parlai.scripts.multiprocessing_train import MultiProcessTrain

    # 2 workers x batch 4 = the single-process batch of 8
    return MultiProcessTrain.main(distributed_world_size=WORLD, batchsize=4,
                                  **train_options(model_file, task, tiny_index, tiny_bart_dir, **extra))


@pytest.fixture(scope="module")
def single(tmp_path_factory, task, tiny_index, tiny_bart_dir):
    """Eval losses of the initial weights and of the single-process model trained from them."""
    from parlai.scripts.eval_model import EvalModel
    from parlai.scripts.train_model import TrainModel

    model_file = tmp_path_factory.mktemp("single") / "model"
    options = train_options(model_file, task, tiny_index, tiny_bart_dir)
    initial = EvalModel.main(model=options["model"], task=options["task"],
                             fromfile_datapath=str(task), generator=str(tiny_bart_dir),
                             index_dir=str(tiny_index), n_docs=3, batchsize=8, skip_generation=True,
                             datapath=str(model_file.parent))
    TrainModel.main(batchsize=8, **options)
    return float(initial["loss"]), float(evaluate(model_file, task)["loss"])


def check_like_single(model_file, task, single):
    """Learnt as much as the single-process model did, within noise."""
    initial, trained = single
    loss = float(evaluate(model_file, task)["loss"])
    assert trained < initial - 0.3  # training moved the single-process model
    assert abs(loss - trained) < 0.25 * (initial - trained), (initial, trained, loss)


@pytest.mark.slow
def test_multiprocessing_train_with_in_process_retrieval(tmp_path, task, tiny_index, tiny_bart_dir, single):
    model_file = tmp_path / "model"
    multiprocess_train(model_file, task, tiny_index, tiny_bart_dir)
    opt = json.loads(Path(f"{model_file}.opt").read_text())
    assert opt["distributed_world_size"] == WORLD
    # the same examples per step, so the same learning curve within noise
    check_like_single(model_file, task, single)


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'rag-dialogue[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="rag_dialogue")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_multiprocessing_train_with_retriever_actors(local_ray, tmp_path, task, tiny_index, tiny_bart_dir, single):
    """Both workers join the Ray started here and share 2 retriever actors."""
    model_file = tmp_path / "model"
    multiprocess_train(model_file, task, tiny_index, tiny_bart_dir, retriever_actors=2)
    actors = [a for a in local_ray.util.list_named_actors(all_namespaces=True)
              if a["name"].startswith("retriever-")]
    assert len(actors) == 2, actors  # shared by the two workers, not 2 each
    check_like_single(model_file, task, single)
