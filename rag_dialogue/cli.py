"""The `rag-dialogue` command. Each subcommand lives with the code it drives.

A module listed in SUBCOMMANDS exposes `add_subparser(subparsers)`, which adds its
parser and sets `func` (called with the parsed args; returns an exit code or None).
"""

import argparse
import importlib
import sys

# name -> module that registers it (imported lazily so `--help` stays correct even
# while a module is missing its optional parts)
SUBCOMMANDS = {
    "index": "rag_dialogue.retrieval.cli",
    "generator": "rag_dialogue.generator",
    "data": "rag_dialogue.tasks.cli",
    "train": "rag_dialogue.train",
    "preset": "rag_dialogue.presets",
    "chat": "rag_dialogue.chat",
    "experiment": "rag_dialogue.experiment",
    "demo": "rag_dialogue.experiment",
    "zoo": "rag_dialogue.zoo",
    "madeup": "rag_dialogue.madeup",
    "metrics": "rag_dialogue.validate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag-dialogue",
        description="Retrieval-augmented knowledge-grounded dialogue for ParlAI.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in dict.fromkeys(SUBCOMMANDS.values()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue
        module.add_subparser(subparsers)
    return parser


def main(argv=None) -> int:
    import rag_dialogue  # noqa: F401  (applies the ParlAI compatibility patches)

    parser = build_parser()
    # Commands that wrap a ParlAI script hand it the options they do not know.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "parlai_args"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.parlai_args = list(args.parlai_args) + extra
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as e:
        # Our loaders raise these with the file/line/option at fault in the message.
        print(f"rag-dialogue {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
