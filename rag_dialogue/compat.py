"""Every fix ParlAI 1.7.2 needs on today's stack (torch 2.13, numpy 2, setuptools 8x).

ParlAI's last release dates from 2023. Each patch below is idempotent, says why it
exists, and is applied once when `rag_dialogue` is imported, so ParlAI's own scripts
(`parlai train_model -m rag_dialogue.agent:RagDialogueAgent ...`) get them too.
"""

import base64
import contextlib
import json
import os
import random
import sys
import warnings

_APPLIED = False


def _reduce_lr_on_plateau_without_verbose():
    # torch 2.7 removed `verbose=` from ReduceLROnPlateau; ParlAI's scheduler passes it.
    import inspect

    from torch.optim import lr_scheduler

    original = lr_scheduler.ReduceLROnPlateau
    if "verbose" in inspect.signature(original.__init__).parameters:
        return

    class ReduceLROnPlateau(original):
        def __init__(self, *args, verbose=None, **kwargs):
            super().__init__(*args, **kwargs)

    lr_scheduler.ReduceLROnPlateau = ReduceLROnPlateau


def _quiet_pkg_resources():
    # ParlAI imports pkg_resources at start-up; setuptools warns on every import.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def _write_json_atomic(path: str, obj):
    # ParlAI's own files (MODEL.opt, MODEL.trainstats) in its indentation
    from rag_dialogue.utils import write_json_atomic

    write_json_atomic(path, obj, indent=4)


def _atomic_opt_save():
    # ParlAI's Opt.save writes MODEL.opt in place; a kill mid-write leaves a truncated
    # JSON file that every later load (resume, eval, chat) fails on.
    from parlai.core.opt import Opt, __AUTOCLEAN_KEYS__

    def save(self, filename: str) -> None:
        _write_json_atomic(filename, {k: v for k, v in self.items()
                                      if k not in __AUTOCLEAN_KEYS__})

    Opt.save = save


def _rng_state() -> dict:
    import numpy as np
    import torch

    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode()}


def _set_rng_state(state: dict):
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(state["torch"])),
                                         dtype=torch.uint8))


def _saved_updates(model_file: str):
    """`number_training_updates` recorded in a ParlAI model file (None if unreadable)."""
    import torch

    try:  # our own training output (ParlAI pickles its Opt into it), not a shared file
        states = torch.load(model_file, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # a file ParlAI's loader could not read either
        return None
    return states.get("number_training_updates") if isinstance(states, dict) else None


def settle_save(model_file: str):
    """Finish or undo a save that a kill interrupted, before the files are read.

    A save writes `X.trainstats.pending` (the training state of the save, with the
    optimizer step it belongs to), then the model (atomically), then renames the
    pending file to `X.trainstats`. Found pending on start-up: if the model file
    holds that step, only the rename was missing and it is done now; otherwise the
    model never got written, and the older model with its older statistics stands.
    """
    from rag_dialogue.utils import remove_stale_temporaries

    # killed while writing the model's folders (MODEL.hf) or the pending file
    remove_stale_temporaries(model_file)
    pending = f"{model_file}.trainstats.pending"
    if not os.path.exists(pending):
        return
    try:
        with open(pending, encoding="utf-8") as f:
            step = json.load(f).get("number_training_updates")
    except (OSError, ValueError):
        step = None
    if step is not None and os.path.exists(model_file) and _saved_updates(model_file) == step:
        os.replace(pending, f"{model_file}.trainstats")
    else:
        os.remove(pending)


def _checkpoints_resume_where_they_stopped():
    # ParlAI's TrainLoop saves MODEL.checkpoint (atomically) and then its
    # MODEL.checkpoint.trainstats (in place). A kill between the two resumes the newer
    # weights with the older step count, so the run takes more steps than asked; a kill
    # during the second leaves truncated JSON and the resume crashes. Nor does it keep
    # the random state, so a resumed run draws other training examples than an
    # uninterrupted one. Here statistics and random state are written first as a
    # pending file and committed by a rename after the model (see settle_save).
    from parlai.scripts import train_model

    loop = train_model.TrainLoop
    original_init = loop.__init__

    def stats(self) -> dict:
        from parlai.core.metrics import dict_report

        return {
            "parleys": self.parleys, "train_time": self.train_time.time(),
            "train_steps": self._train_steps, "total_epochs": self._total_epochs,
            "train_reports": self.train_reports, "valid_reports": self.valid_reports,
            "best_valid": self.best_valid, "impatience": self.impatience,
            "final_valid_report": dict_report(self.final_valid_report),
            "final_test_report": dict_report(self.final_test_report),
            "final_extra_valid_report": dict_report(self.final_extra_valid_report),
            "number_training_updates": getattr(self.agent, "_number_training_updates", None),
            "rng_state": _rng_state(),
        }

    def save_model(self, suffix=None):
        from parlai.utils.distributed import is_primary_worker

        if not self.opt.get("model_file"):
            return
        fn = self.opt["model_file"] + (suffix or "")
        if not is_primary_worker():
            if hasattr(self.agent, "save_nonprimary"):
                self.agent.save_nonprimary(fn)
            return
        while True:
            try:  # as ParlAI: a Ctrl-C never interrupts a save
                _write_json_atomic(f"{fn}.trainstats.pending", stats(self))
                self.agent.save(fn)
                os.replace(f"{fn}.trainstats.pending", f"{fn}.trainstats")
                if self.opt["wandb_log"] and self.opt["wandb_log_model"]:
                    self.wb_logger.log_model(fn)
                break
            except KeyboardInterrupt:
                pass

    def save_train_stats(self, suffix=None):
        from parlai.utils.distributed import is_primary_worker

        if is_primary_worker() and self.opt.get("model_file"):
            _write_json_atomic(self.opt["model_file"] + (suffix or "") + ".trainstats",
                               stats(self))

    def __init__(self, opt):
        model_file, init_model = opt.get("model_file"), opt.get("init_model")
        if model_file:
            settle_save(model_file + ".checkpoint")
            settle_save(model_file)
        original_init(self, opt)
        # ParlAI resumes by setting init_model to the checkpoint (see TrainLoop.__init__)
        # and leaves it there, also in the agent's opt that MODEL.opt is saved from, so
        # the final evaluation reloads the checkpoint's weights instead of the finished
        # model's: put the caller's init_model back.
        resumed = opt.get("init_model") or ""
        if model_file and resumed == model_file + ".checkpoint":
            opt["init_model"] = init_model
            if isinstance(getattr(self.agent, "opt", None), dict):
                self.agent.opt["init_model"] = init_model
            try:
                with open(resumed + ".trainstats", encoding="utf-8") as f:
                    state = json.load(f).get("rng_state")
            except (OSError, ValueError):
                state = None
            if state:
                _set_rng_state(state)

    loop.__init__ = __init__
    loop.save_model = save_model
    loop._save_train_stats = save_train_stats


# ---------------------------------------------------------------- multiprocessing_train on CPU
#
# ParlAI 1.7.2's multi-process training assumes CUDA throughout: `distributed_context`
# picks the GPU as rank % torch.cuda.device_count() (ZeroDivisionError without a GPU),
# hard-codes the nccl backend and calls torch.cuda.init(); `all_gather_list` (metrics,
# sync_object) builds its buffers with .cuda(); TorchGeneratorAgent wraps the model in
# DistributedDataParallel with device_ids=[opt['gpu']] = [-1], which torch refuses for a
# CPU module; and the Join hooks of the train loop and evaluator give opt['gpu'] = -1 as
# their device, on which torch cannot allocate. Without a GPU these patches run the same
# protocol on gloo. (The agent
# itself averages gradients across workers: see RagDialogueAgent.update_params.)

_DISTRIBUTED_PATCHED = False


@contextlib.contextmanager
def _cpu_distributed_context(rank, opt, rank_offset=0, gpu=None, init_method="tcp://localhost:61337"):
    """ParlAI's distributed_context for machines without CUDA: gloo, no GPU, same seed."""
    import copy

    import torch
    import torch.distributed as dist
    from parlai.utils import distributed

    opt = copy.deepcopy(opt)
    rank = rank + rank_offset
    opt["rank"], opt["gpu"], opt["no_cuda"] = rank, -1, True
    opt.setdefault("override", {})["gpu"] = -1
    quiet = not opt.get("verbose") and rank != 0
    with distributed.override_print(quiet, None if quiet else f"rank:{rank:3d} |" if rank else None):
        dist.init_process_group(backend="gloo", init_method=init_method,
                                world_size=opt["distributed_world_size"], rank=rank)
        try:
            torch.manual_seed(42)  # every worker builds the same initial weights
            distributed.sync_object(None)  # nobody starts before all have joined
            yield opt
        finally:
            dist.destroy_process_group()


def _cpu_all_gather_list(data):
    """ParlAI's all_gather_list (any picklable object from every worker) without CUDA buffers."""
    import torch.distributed as dist
    from parlai.utils.distributed import is_distributed

    if not is_distributed():
        return [data]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, data)
    return out


def _cpu_ddp_class(ddp):
    class DistributedDataParallel(ddp):
        """Drops ParlAI's device_ids=[-1] ("no GPU") for a module on the CPU."""

        def __init__(self, module, device_ids=None, *args, **kwargs):
            if device_ids == [-1] and all(p.device.type == "cpu" for p in module.parameters()):
                device_ids = None
            with warnings.catch_warnings():  # ParlAI passes the deprecated broadcast_buffers
                warnings.simplefilter("ignore", FutureWarning)
                super().__init__(module, device_ids, *args, **kwargs)

    return DistributedDataParallel


def _multiprocess_train(rank, opt, *args, **kwargs):
    """ParlAI's multiprocess_train; defined here so that the workers it spawns (which
    unpickle this function) import this module, and so get the patches, first."""
    patch_distributed_training()
    from parlai.scripts import multiprocessing_train

    return multiprocessing_train._original_multiprocess_train(rank, opt, *args, **kwargs)


def patch_distributed_training():
    """The CPU patches above, when there is no GPU (idempotent; imports ParlAI's scripts)."""
    global _DISTRIBUTED_PATCHED
    import torch

    if _DISTRIBUTED_PATCHED or torch.cuda.is_available():
        return
    import torch.nn.parallel
    from parlai.scripts import multiprocessing_train, train_model
    from parlai.utils import distributed

    from parlai.utils import fsdp

    cpu = property(lambda self: torch.device("cpu"))
    fsdp.JoinableTrainLoop.join_device = cpu
    fsdp.JoinableEvaluator.join_device = cpu
    distributed.distributed_context = _cpu_distributed_context
    distributed.all_gather_list = _cpu_all_gather_list
    train_model.all_gather_list = _cpu_all_gather_list  # imported by name there
    torch.nn.parallel.DistributedDataParallel = _cpu_ddp_class(torch.nn.parallel.DistributedDataParallel)
    if not hasattr(multiprocessing_train, "_original_multiprocess_train"):
        multiprocessing_train._original_multiprocess_train = multiprocessing_train.multiprocess_train
        multiprocessing_train.multiprocess_train = _multiprocess_train
    _DISTRIBUTED_PATCHED = True


def apply():
    """Apply all patches (safe to call more than once)."""
    global _APPLIED
    if _APPLIED:
        return
    _quiet_pkg_resources()
    _reduce_lr_on_plateau_without_verbose()
    _atomic_opt_save()
    _checkpoints_resume_where_they_stopped()
    _APPLIED = True
    # Importing ParlAI's training scripts costs a second: patch them now only if they are
    # loaded; otherwise the agent does it when ParlAI builds its options.
    if "parlai.scripts.multiprocessing_train" in sys.modules:
        patch_distributed_training()


def run_parlai_script(script_cls, args=(), **kwargs):
    """Run a ParlAI script with command-line args *and* keyword options.

    ParlAI's `Script.main` takes one or the other; recipes give keyword options and
    users add command-line ones. Keyword options become arguments first, so the
    user's command-line arguments (parsed later) win.
    """
    parser = script_cls.setup_args()
    # `_kwargs_to_str_args` needs the model's and task's options registered first,
    # which is what parsing with the model and task does.
    str_args = parser._kwargs_to_str_args(**kwargs) if kwargs else []
    return script_cls._run_args(list(str_args) + list(args))
