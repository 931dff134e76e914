"""`rag-dialogue chat`: talk to a model in the terminal.

A quiet loop over ParlAI's agent API (`create_agent_from_model_file`, observe/act, as
ParlAI's interactive script does): a one-line banner, then the replies, streamed word by
word as they are generated. ParlAI's option dump and notes go to a log file
(`--verbose` shows them). By default a retrieval model talks from an index of the
whole packaged corpus (every sentence of the 10,033 vital articles), built once at the
first chat and cached; `--index` swaps in any other.
"""

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

DEFAULT_MODEL = Path("runs/embedded/rag_token/model")
PROMPT = "Enter Your Message: "
SPEAKER = "[RagDialogue]"
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


def _check_index(index_dir) -> str:
    from rag_dialogue.retrieval.index import DenseIndex

    DenseIndex.read_meta(index_dir)  # a clear error now rather than mid-chat
    return str(index_dir)


def _model_opt(model_file: str) -> dict:
    import json

    return json.loads(Path(f"{model_file}.opt").read_text())


def chat_index(model_file: str, index_dir=None) -> str | None:
    """The index the chat talks from: `index_dir` if given; else, for a model trained on
    the embedded dataset, the whole-corpus index (built at the first chat); else the
    model's own. None for a model that does not retrieve."""
    if index_dir:
        return _check_index(index_dir)
    from rag_dialogue.strategies import strategy_for

    opt = _model_opt(model_file)
    if not strategy_for(opt.get("rag_type", "token")).retrieves or not opt.get("index_dir"):
        return None
    own = Path(opt["index_dir"])
    if "vital_articles" not in opt.get("task", ""):
        return str(own)
    from rag_dialogue.paths import default_datapath
    from rag_dialogue.prepare import ensure_corpus_index

    # ParlAI leaves datapath out of a saved .opt: the dataset is where rag-dialogue builds it
    return str(ensure_corpus_index(Path(opt.get("datapath") or default_datapath()), own))


class StreamPrinter:
    """Prints a reply as the agent generates it: `on_text(text_so_far)` per step, then
    `finish(final_text)` (which prints the reply whole when nothing was streamed, or when
    the final reply is not what was streamed: a decline, or a repeat replaced)."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.shown = ""
        self.first_at = None

    def on_text(self, text: str):
        # the last word may still grow ("Eiff" -> "Eiffel"): show whole words only
        upto = text.rfind(" ")
        ready = text[:upto] if upto > 0 else ""
        if not ready.startswith(self.shown) or len(ready) <= len(self.shown):
            return
        if not self.shown:
            self.out.write(f"{SPEAKER}: ")
            self.first_at = time.time()
        self.out.write(ready[len(self.shown):])
        self.out.flush()
        self.shown = ready

    def finish(self, text: str):
        if self.shown and text.startswith(self.shown):
            self.out.write(text[len(self.shown):] + "\n")
        elif self.shown:  # taken back (a repeat generated again, or a decline)
            self.out.write(self._erase() + f"{SPEAKER}: {text}\n")
        else:
            self.out.write(f"{SPEAKER}: {text}\n")
        self.out.flush()
        self.shown, self.first_at = "", None

    def _erase(self) -> str:
        """What takes a streamed reply back: in a terminal, the cursor returns to the
        reply's first row and clears to the end of the screen; in a transcript (a pipe, a
        file) the words stay, marked, so a reader sees which reply stands."""
        isatty = getattr(self.out, "isatty", None)
        if not (isatty and isatty()):
            return " [taken back]\n"
        import shutil

        columns = max(1, shutil.get_terminal_size().columns)
        rows_up = (len(SPEAKER) + 2 + len(self.shown)) // columns
        return "\r" + (f"\033[{rows_up}F" if rows_up else "") + "\033[J"


def chat_log(model_file) -> Path:
    """Where a chat with `model_file` writes ParlAI's chatter and the agent's notes."""
    return Path(f"{model_file}.chat.log")


def load_agent(model_file=None, index_dir=None, parlai_args=(), verbose: bool = False,
               print_docs: bool = False, attribution: bool = False, log_file=None,
               int8: bool = True, max_sentences: int = 2):
    """The agent of `model_file` for chatting, its ParlAI chatter sent to `log_file`;
    returns (agent, banner line). `int8`: a causal LM decodes with int8 copies of its decoder
    layers and output layer, prompts staying float (`--int8-inference`, see
    `backends.DecodeInt8Linear`; bench/bench_chat.py measures both ways).
    `max_sentences`: a reply ends after that many sentences (0: when the model ends it)."""
    from parlai.core.agents import create_agent_from_model_file

    from rag_dialogue import progress

    model_file = _model_file(model_file)
    index = chat_index(model_file, index_dir)
    overrides = {"interactive_mode": True, "skip_generation": False, "print_docs": print_docs,
                 "print_attribution": attribution, "max_reply_sentences": max_sentences,
                 "int8_inference": int8,
                 **_parlai_overrides(model_file, parlai_args)}
    if index:
        overrides["index_dir"] = index
    log_file = Path(log_file or chat_log(model_file))
    with progress.logs_to(log_file, verbose=verbose), _quiet(verbose):
        agent = create_agent_from_model_file(model_file, opt_overrides=overrides)
    _warm_up(agent)
    quantized = agent.int8_layers
    size = ""
    retriever = getattr(agent.model, "retriever", None)
    if retriever is not None:
        size = f", index {index} ({len(retriever.store):,} passages)"
    weights = ", int8 decoder" if quantized else ""
    return agent, (f"rag-dialogue chat: {model_file} ({agent.opt.get('rag_type')}{weights}){size}; "
                   f"log {log_file}")


def _warm_up(agent):
    """Do while loading what the first reply would wait for (2 to 10 s on 2 cores): the
    stemmer's import, the common-word list, the vocabulary's number and word pieces, the pieces that
    end a sentence and those that start a word (where a sentence may end), and a first
    query encoding and search."""
    import torch

    from rag_dialogue import metrics

    metrics.stem("warming")
    metrics.default_rare_words()
    model = agent.model
    if getattr(model, "names_from_passages", False):
        model.name_tokens()
    if getattr(model, "numbers_from_passages", False):
        model.number_tokens()
        if agent.opt.get("answer_asked_number", True):
            model._ending_tokens()
    if agent.opt.get("max_reply_sentences"):
        agent._space_led()
    if getattr(model, "retriever", None) is not None:
        batch = agent.batchify([agent.observe({"text": "Hello, what is new?", "episode_done": True})])
        with torch.no_grad():
            model.retrieve(batch.rag_input.query, batch.rag_input.said, batch.rag_input.names)
        getattr(model.retriever, "title_rows", None)  # read at load, not at the first named question
    agent.reset()


def _parlai_overrides(model_file: str, parlai_args) -> dict:
    """Options the user gave in ParlAI's own syntax (`--inference beam --beam-size 3`)."""
    if not parlai_args:
        return {}
    from parlai.core.params import ParlaiParser

    with _quiet(False):
        opt = ParlaiParser(True, True).parse_args(["-mf", model_file, *parlai_args])
    return {k: v for k, v in opt.get("override", {}).items() if k != "model_file"}


@contextlib.contextmanager
def _quiet(verbose: bool):
    """ParlAI prints some notes straight to stdout (not through its logger)."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def converse(agent, lines, out=None, stream: bool = True):
    """Talk over `lines` (an iterator of messages): [DONE] starts a new conversation,
    [EXIT] ends. Yields (message, reply, seconds to the reply, seconds to its first word)."""
    out = out or sys.stdout
    printer = StreamPrinter(out)
    agent.on_text = printer.on_text if stream else None
    for line in lines:
        message = line.strip()
        if message == "[EXIT]":
            return
        if message == "[DONE]":
            agent.reset()
            out.write("(new conversation)\n")
            continue
        if not message:
            out.write("(empty message: type something; [DONE] starts over, [EXIT] leaves)\n")
            continue
        started = time.time()
        agent.observe({"text": message, "episode_done": False})
        reply = agent.act().get("text", "")
        first = printer.first_at
        printer.finish(reply)
        for line in getattr(agent, "pending_lines", None) or ():
            out.write(line + "\n")
        agent.pending_lines = []
        now = time.time()
        yield message, reply, now - started, (first or now) - started


def _stdin_lines():
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            print()
            return


def chat(model_file=None, index_dir=None, parlai_args=(), verbose=False, print_docs=False,
         attribution=False, int8=True, max_sentences=2):
    agent, banner = load_agent(model_file, index_dir, parlai_args, verbose, print_docs, attribution,
                               int8=int8, max_sentences=max_sentences)
    print(banner + "\n[DONE] starts a new conversation; [EXIT] or Ctrl-D ends.", flush=True)
    from rag_dialogue import progress

    # what the agent notes while it talks (a reply its checks took back, and why) goes to
    # the log too
    with _bounded_stdin(), progress.logs_to(chat_log(_model_file(model_file)), verbose=verbose):
        for _ in converse(agent, _stdin_lines()):
            pass


def scripted_exchange(model_file, turns=None, index_dir=None):
    """A short exchange without a human, for the demo: prints each turn and reply."""
    agent, banner = load_agent(model_file, index_dir)
    print(banner)
    turns = turns or ("Hi! What can you tell me about the Eiffel Tower?",
                      "Interesting. Tell me something else about it.")

    def said():
        for turn in turns:
            print(f"\n[you]: {turn}", flush=True)
            yield turn

    return list(converse(agent, said()))


def add_subparser(subparsers):
    p = subparsers.add_parser(
        "chat", help="chat in the terminal with a trained model (replies streamed as they are "
        "generated; passages and attributions on request)",
        description="Type a message and press Enter; [DONE] starts a new conversation, [EXIT] "
        "or Ctrl-D ends. Options not listed here are ParlAI agent options (for example "
        "--inference beam --beam-size 3, --n-docs 3).",
    )
    p.add_argument("-mf", "--model-file", default=None,
                   help=f"model to talk to (default: the experiment's RAG-Token model, {DEFAULT_MODEL})")
    p.add_argument("--index", default=None,
                   help="swap in another passage index (built by `rag-dialogue index build`) "
                   "without retraining (default: the whole packaged corpus for a model trained "
                   "on the embedded dataset, built and cached at the first chat)")
    p.add_argument("--print-docs", action="store_true", help="show the retrieved passages with each reply")
    p.add_argument("--attribution", action="store_true",
                   help="show which retrieved passage each part of a reply came from (RAG-Token)")
    p.add_argument("--verbose", action="store_true",
                   help="show ParlAI's option dump and notes here too (always in MODEL.chat.log)")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                   help="decode with int8 copies of a causal LM's decoder layers and output layer, "
                   "prompts staying float (--int8-inference): about half the reply time on a CPU, with the "
                   "measures of fp32 within their noise (bench/bench_chat.py, "
                   "bench/bench_grounding.py); --no-int8 generates in the model's own precision "
                   "(default: %(default)s)")
    p.add_argument("--max-sentences", type=int, default=2,
                   help="end each reply after this many sentences (0: when the model ends it); "
                   "short replies come sooner and leave less room to state what the passages "
                   "do not say (bench/bench_chat.py)")
    p.set_defaults(parlai_args=[], func=lambda a: chat(a.model_file, a.index, a.parlai_args, a.verbose,
                                                        a.print_docs, a.attribution, int8=a.int8,
                                                        max_sentences=a.max_sentences))
