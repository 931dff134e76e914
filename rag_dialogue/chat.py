"""`rag-dialogue chat`: talk to a model in the terminal (ParlAI's interactive underneath)."""

import contextlib
import io
import sys
from pathlib import Path

DEFAULT_MODEL = Path("runs/embedded/rag_token/model")
# The longest message read from a pipe; the model reads far less (--text-truncate), and a
# pasted file without line breaks would otherwise be held whole in memory.
MAX_MESSAGE_BYTES = 1 << 20


class BoundedLines(io.TextIOBase):
    """Text lines from a byte stream, for `input()`: at most `limit` bytes of a line are
    kept (the rest is read and dropped, with a note on stderr), and bytes that are not
    UTF-8 become U+FFFD instead of ending the chat with a traceback.

    `fileno` is unsupported on purpose: `input()` then calls `readline()`.
    """

    def __init__(self, raw, limit: int = MAX_MESSAGE_BYTES, notes=None):
        self.raw, self.limit, self.notes = raw, limit, notes

    def readable(self):
        return True

    def readline(self, size=-1):
        line = self.raw.readline(self.limit + 1)
        if len(line) > self.limit and not line.endswith(b"\n"):
            rest = line
            while rest and not rest.endswith(b"\n"):
                rest = self.raw.readline(1 << 20)
            line = line[:self.limit] + b"\n"
            print(f"[message cut to its first {self.limit:,} bytes]",
                  file=self.notes or sys.stderr)
        return line.decode("utf-8", errors="replace")


@contextlib.contextmanager
def _bounded_stdin():
    """Read chat messages through BoundedLines when they come from a pipe or file."""
    stdin = sys.stdin
    if stdin is None or not hasattr(stdin, "buffer") or stdin.isatty():
        if stdin is not None and hasattr(stdin, "reconfigure"):
            stdin.reconfigure(errors="replace")  # a terminal: keep line editing
        yield
        return
    sys.stdin = BoundedLines(stdin.buffer)
    try:
        yield
    finally:
        sys.stdin = stdin


def _model_file(model_file) -> str:
    path = Path(model_file or DEFAULT_MODEL)
    if not Path(f"{path}.opt").exists():
        hint = ("run `rag-dialogue experiment` first, or give -mf" if model_file is None
                else "give the model file of a trained model (the path without .opt)")
        raise FileNotFoundError(f"no trained model at {path}: {hint}")
    return str(path)


def _overrides(index_dir) -> dict:
    opts = {"print_docs": True, "print_attribution": True}
    if index_dir:
        from rag_dialogue.retrieval.index import DenseIndex

        DenseIndex.read_meta(index_dir)  # a clear error now rather than mid-chat
        opts["index_dir"] = str(index_dir)
    return opts


def chat(model_file=None, index_dir=None, parlai_args=()):
    from parlai.scripts.interactive import Interactive

    from rag_dialogue.compat import run_parlai_script

    with _bounded_stdin():
        run_parlai_script(Interactive, parlai_args, model_file=_model_file(model_file),
                          **_overrides(index_dir))


def scripted_exchange(model_file, turns=None, index_dir=None):
    """A short exchange without a human, for the demo: prints each turn and reply."""
    from parlai.core.agents import create_agent_from_model_file

    overrides = {"interactive_mode": True, "skip_generation": False, **_overrides(index_dir)}
    agent = create_agent_from_model_file(_model_file(model_file), opt_overrides=overrides)
    for turn in turns or ("Hi! What can you tell me about the Eiffel Tower?",
                          "Interesting. Tell me something else about it."):
        print(f"\n[you]: {turn}")
        agent.observe({"text": turn, "episode_done": False})
        print(f"[RagDialogue]: {agent.act()['text']}")


def add_subparser(subparsers):
    p = subparsers.add_parser(
        "chat", help="chat in the terminal with a trained model; shows the retrieved passages "
        "and which passage each part of a reply came from",
        description="Type a message and press Enter; [DONE] starts a new conversation, [EXIT] "
        "or Ctrl-D ends. Options not listed here go to ParlAI's interactive.",
    )
    p.add_argument("-mf", "--model-file", default=None,
                   help=f"model to talk to (default: the experiment's RAG-Token model, {DEFAULT_MODEL})")
    p.add_argument("--index", default=None,
                   help="swap in another passage index (built by `rag-dialogue index build`) "
                   "without retraining")
    p.set_defaults(parlai_args=[], func=lambda a: chat(a.model_file, a.index, a.parlai_args))
