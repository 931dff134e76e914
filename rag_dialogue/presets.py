"""Recipes in `opt_presets/*.yaml`: ParlAI options, one file per recipe.

A preset is a flat mapping of ParlAI option names (as in a `.opt` file) with two
extensions: `base: NAME` inherits another preset, and keys starting with
`rag_dialogue_` describe how to prepare the data (they never reach ParlAI). String
values expand `~` and `$VARS`; `RAG_DIALOGUE_HOME` defaults to rag-dialogue's home.
"""

import json
import os
from pathlib import Path

import yaml

from rag_dialogue.paths import home
from rag_dialogue.utils import write_json_atomic

PRIVATE_PREFIX = "rag_dialogue_"


def presets_dir() -> Path:
    """`opt_presets/` of a source checkout, else the copy installed with the package."""
    checkout = Path(__file__).resolve().parent.parent / "opt_presets"
    if checkout.is_dir():
        return checkout
    from importlib.resources import files

    return Path(str(files("rag_dialogue.opt_presets")))


def available() -> list:
    return sorted(p.stem for p in presets_dir().glob("*.yaml") if not p.stem.endswith("_base"))


def _path_of(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") and os.sep in name_or_path:
        path = path.with_name(path.name + ".yaml")  # a recipe family given as a path prefix
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"preset file not found: {path}")
        return path
    path = presets_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"no preset {name_or_path!r}: choose one of {', '.join(available())} "
            "or give a path to a .yaml file"
        )
    return path


def _expand(value):
    if not isinstance(value, str):
        return value
    if "RAG_DIALOGUE_HOME" not in os.environ:
        for form in ("${RAG_DIALOGUE_HOME}", "$RAG_DIALOGUE_HOME"):
            value = value.replace(form, str(home()))
    return os.path.expandvars(os.path.expanduser(value))


def load(name_or_path: str, _seen=()) -> dict:
    """The preset's options with its bases applied (later files win)."""
    path = _path_of(name_or_path)
    if path in _seen:
        raise ValueError(f"{path}: preset inherits from itself through 'base'")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a preset is a mapping of option: value")
    base = data.pop("base", None)
    opts = load(base, _seen + (path,)) if base else {}
    opts.update({k: _expand(v) for k, v in data.items()})
    return opts


def parlai_options(preset: dict) -> dict:
    """The options ParlAI understands (the recipe's own keys removed)."""
    return {k: v for k, v in preset.items() if not k.startswith(PRIVATE_PREFIX)}


def write_opt_file(name_or_path: str, out) -> Path:
    """Write the preset as a ParlAI `.opt` (JSON) file, for `parlai train_model -o FILE`."""
    write_json_atomic(out, parlai_options(load(name_or_path)))
    return Path(out)


def add_subparser(subparsers):
    p = subparsers.add_parser("preset", help="list the recipes or turn one into a ParlAI .opt file")
    p.add_argument("name", nargs="?", help="preset name (omit to list them)")
    p.add_argument("--to-opt", metavar="FILE", help="write the preset as a ParlAI .opt file")
    p.set_defaults(func=_main)


def _main(args):
    if not args.name:
        print("\n".join(available()))
    elif args.to_opt:
        print(write_opt_file(args.name, args.to_opt))
    else:
        print(json.dumps(load(args.name), indent=2))
