"""Every fix ParlAI 1.7.2 needs on today's stack (torch 2.13, numpy 2, setuptools 8x).

ParlAI's last release dates from 2023. Each patch below is idempotent, says why it
exists, and is applied once when `rag_dialogue` is imported, so ParlAI's own scripts
(`parlai train_model -m rag_dialogue.agent:RagDialogueAgent ...`) get them too.
"""

import contextlib
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
