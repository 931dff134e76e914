"""Progress bars that ParlAI's loops advance, and ParlAI's chatter sent to a log file.

ParlAI's train and eval loops take no callbacks, so the experiment opens a bar here
and `RagDialogueAgent` advances whichever bar is open (none outside the experiment).
"""

import contextlib
import logging
import time

_bar = None
_quiet = False  # a worker process of the experiment: the console shows its stage lines instead


def quiet():
    """No bars from this process (an experiment's worker: several run side by side)."""
    global _quiet
    _quiet = True


@contextlib.contextmanager
def bar(total: float, desc: str, unit: str):
    """A tqdm bar that `advance` moves; ``unit="s"`` bars advance by wall time."""
    from tqdm.auto import tqdm

    global _bar
    _bar = tqdm(total=round(total), desc=desc, unit=unit, leave=True, dynamic_ncols=True,
                disable=_quiet,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}{unit} "
                           "[{elapsed}<{remaining}{postfix}]")
    _bar.started = _bar.last = time.time()
    try:
        yield _bar
    finally:
        _bar.close()
        _bar = None


def advance(examples: int = 0, steps: int = 0, **postfix):
    """Move the open bar: a time bar (unit "s") by the time since the last call, a step
    bar (unit "step") by ``steps``, any other by ``examples``; never past its total
    (training ends with a short evaluation, whose examples are not training steps)."""
    if _bar is None or _bar.disable:
        return
    if _bar.unit == "s":
        now = time.time()
        amount = now - _bar.last
        _bar.last = now
    else:
        amount = steps if _bar.unit == "step" else examples
    _bar.update(min(amount, max(0.0, _bar.total - _bar.n)))
    if postfix:
        _bar.set_postfix(postfix, refresh=False)


@contextlib.contextmanager
def logs_to(path, verbose: bool = False):
    """ParlAI's INFO lines (option dumps, reports) and transformers' notes go to ``path``
    while the block runs; the console keeps errors only unless ``verbose``."""
    import transformers
    from parlai.utils import logging as parlai_logging

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    loggers = [parlai_logging.logger, logging.getLogger("rag_dialogue"), logging.getLogger("transformers")]
    console_level = parlai_logging.logger.streamHandler.level
    own_level = loggers[1].level
    for logger in loggers:
        logger.addHandler(handler)
    loggers[1].setLevel(logging.INFO)
    own_propagate = loggers[1].propagate
    if not verbose:  # (its warnings are mostly "Overriding opt[...]" notes)
        loggers[1].propagate = False  # a root handler (Ray, basicConfig) would print it too
        parlai_logging.logger.streamHandler.setLevel(logging.ERROR)
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        loggers[1].setLevel(own_level)
        loggers[1].propagate = own_propagate
        parlai_logging.logger.streamHandler.setLevel(console_level)
        handler.close()
