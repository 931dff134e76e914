"""`rag-dialogue chat`: talk to a model in the terminal (ParlAI's interactive underneath)."""

from pathlib import Path

DEFAULT_MODEL = Path("runs/embedded/rag_token/model")


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
