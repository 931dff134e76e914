"""Make what a recipe needs before training: its dataset and its passage indexes (cached)."""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rag_dialogue.retrieval.index import DenseIndex

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    index_dir: Path
    counterfactual_index_dir: Optional[Path] = None  # embedded recipe only
    wow_test_index_dir: Optional[Path] = None  # embedded: real WoW test-seen knowledge


def _index_is_current(index_dir: Path, passages: Path, encoder: Optional[str]) -> bool:
    from rag_dialogue.retrieval.encoder import portable_encoder_name
    from rag_dialogue.utils import sha256_file

    try:
        meta = DenseIndex.read_meta(index_dir)
    except (FileNotFoundError, ValueError):
        return False
    if meta.get("source_sha256") != sha256_file(passages):
        return False
    try:  # an index of another virtualenv names the packaged encoder by its old folder
        return portable_encoder_name(meta.get("encoder")) == portable_encoder_name(encoder)
    except FileNotFoundError:
        return False


def ensure_index(passages: Path, index_dir: Path, encoder: Optional[str] = None,
                 pooling: str = "mean", index_type: str = "exact", reuse=None) -> Path:
    """Build the index of `passages` at `index_dir` unless an identical one is there."""
    from rag_dialogue.retrieval.retriever import build_index

    index_dir = Path(index_dir)
    if _index_is_current(index_dir, passages, encoder):
        print(f"reusing index {index_dir}")
        return index_dir
    print(f"indexing {passages} -> {index_dir}")
    return build_index(passages, index_dir, encoder_name_or_path=encoder, pooling=pooling,
                       index_type=index_type, show_progress=True, reuse=reuse)


def ensure_corpus_index(datapath, index_dir) -> Path:
    """The chat's index of the whole packaged corpus beside `index_dir` (an embedded
    experiment index: its vectors are reused, so only the other sentences are encoded)."""
    from rag_dialogue.tasks.vital_articles import build as va

    index_dir = Path(index_dir)
    meta = DenseIndex.read_meta(index_dir)
    corpus = index_dir.with_name(index_dir.name + "_corpus")
    return ensure_index(va.corpus_passages_file(datapath), corpus, meta.get("encoder"),
                        meta.get("pooling", "mean"), reuse=index_dir)


def prepare(preset: dict) -> Prepared:
    """Build (or reuse) the dataset and index(es) a preset's options point at."""
    kind = preset.get("rag_dialogue_data", "embedded")
    datapath = Path(preset["datapath"])
    index_dir = Path(preset["index_dir"])
    encoder = preset.get("rag_dialogue_passage_encoder")  # None: the packaged MiniLM
    pooling = preset.get("query_pooling") or "mean"
    if kind == "embedded":
        from rag_dialogue.tasks.vital_articles import build as va

        knobs = {k: preset.get(f"va_{k}") for k in va.KNOBS}  # a recipe may size the dataset
        va.build(datapath, va.requested_config(datapath, knobs))
        ensure_index(va.passages_file(datapath), index_dir, encoder, pooling)
        counterfactual = index_dir.with_name(index_dir.name + "_counterfactual")
        # the counterfactual corpus differs in a few hundred passages: encode only those
        ensure_index(va.passages_file(datapath, counterfactual=True), counterfactual, encoder,
                     pooling, reuse=index_dir)
        wow_test = index_dir.with_name(index_dir.name + "_wow_test")
        ensure_index(va.wow_test_passages_file(datapath), wow_test, encoder, pooling)
        return Prepared(index_dir, counterfactual, wow_test)
    if kind == "wow":
        from rag_dialogue.tasks.wizard_of_wikipedia.export import export_passages, wow_folder

        passages = datapath / "wizard_of_wikipedia" / "rag_passages.sentence.jsonl"
        if not passages.exists():
            export_passages(wow_folder(datapath), passages)
        ensure_index(passages, index_dir, encoder, pooling, index_type="hnsw_sq8")
        return Prepared(index_dir)
    raise ValueError(f"rag_dialogue_data must be 'embedded' or 'wow', not {kind!r}")
