"""Every fix ParlAI 1.7.2 needs on today's stack (torch 2.13, numpy 2, setuptools 8x).

ParlAI's last release dates from 2023. Each patch below is idempotent, says why it
exists, and is applied once when `rag_dialogue` is imported, so ParlAI's own scripts
(`parlai train_model -m rag_dialogue.agent:RagDialogueAgent ...`) get them too.
"""

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


def apply():
    """Apply all patches (safe to call more than once)."""
    global _APPLIED
    if _APPLIED:
        return
    _quiet_pkg_resources()
    _reduce_lr_on_plateau_without_verbose()
    _APPLIED = True


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
