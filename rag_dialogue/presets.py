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
    data = _read(path)
    base = data.pop("base", None)
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise ValueError(f"{path}: field 'base' must name a preset or a .yaml file, "
                         f"got {base!r:.80}")
    if base:
        try:
            base = _path_of(base)
        except (FileNotFoundError, ValueError) as e:  # ValueError: e.g. a NUL in the name
            raise type(e)(f"{path}: field 'base': {e}") from None
    opts = load(str(base), _seen + (path,)) if base else {}
    opts.update({k: _expand(v) for k, v in data.items()})
    return opts


# A preset's values end up in a JSON .opt file and on ParlAI's command line.
_SCALARS = (str, int, float, bool, type(None))


def _read(path: Path) -> dict:
    """The mapping a preset file holds; ValueError names the file and the line or field."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark, context = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
        lines = max(1, len(text.splitlines()))
        where = f":{min(mark.line + 1, lines)}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if context is not None and getattr(e, "context", None):
            problem += f", {e.context} at line {context.line + 1}"
        raise ValueError(f"{path}{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid YAML (nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a preset is a mapping of option: value")
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{path}: option names must be non-empty strings, got {key!r:.80}")
        if not _json_value(value):
            raise ValueError(f"{path}: field {key!r} must be a string, number, boolean, null "
                             f"or a list/mapping of them, got {type(value).__name__}")
    return data


def _json_value(value, depth=0) -> bool:
    if isinstance(value, _SCALARS):
        return not (isinstance(value, float) and value != value)  # NaN has no JSON form
    if depth > 20:
        return False
    if isinstance(value, list):
        return all(_json_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_value(v, depth + 1) for k, v in value.items())
    return False


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


WOW_SPLIT = "test_wow"  # real WoW test seen, shipped with the embedded dataset


def split_options(kind: str, split: str) -> dict:
    """ParlAI options that select one split of a recipe's task."""
    fold = split.split("_")[0]
    if kind == "embedded":
        return {"va_split": split, "datatype": fold}
    if split == WOW_SPLIT:
        raise ValueError(f"{WOW_SPLIT} is the embedded dataset's real-WoW split; a WoW recipe "
                         "evaluates real WoW as test_seen and test_unseen")
    suffix = {"seen": "random_split", "unseen": "topic_split"}[split.split("_")[1]]
    return {"task": f"rag_dialogue.tasks.wizard_of_wikipedia.agents:GeneratorTeacher:{suffix}",
            "datatype": fold}
