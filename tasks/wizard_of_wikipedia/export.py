"""Export every passage retrieved in Wizard of Wikipedia as a de-duplicated passage JSONL file.

The counterpart of ParlAI's `wow_passages` (the Wikipedia articles that show up in WoW):
here built from the data itself, so it works wherever the WoW data is, and in the
`id`/`title`/`text` format `rag-dialogue index build --passages` reads.
"""

import json
import os
from pathlib import Path

from rag_dialogue.utils import atomic_path

# The files ParlAI's WoW build unpacks (data.json repeats them all, so it is not read).
SPLIT_FILES = (
    "train.json", "valid_random_split.json", "valid_topic_split.json",
    "test_random_split.json", "test_topic_split.json",
)
GRANULARITIES = ("sentence", "passage")


def wow_folder(datapath, download: bool = True) -> Path:
    """`<datapath>/wizard_of_wikipedia`, downloaded and unpacked by ParlAI's build if needed."""
    from parlai.tasks.wizard_of_wikipedia.build import build

    folder = Path(datapath) / "wizard_of_wikipedia"
    if download:
        try:
            build({"datapath": str(datapath)})
        except Exception as e:  # no network: say where the files are expected
            raise FileNotFoundError(
                f"Wizard of Wikipedia is not in {folder} and could not be downloaded ({e}). "
                f"Unpack wizard_of_wikipedia.tgz there, or pass the folder's parent as --datapath."
            ) from e
    return folder


def iter_passages(episodes, granularity: str = "sentence"):
    """(title, text) for every passage the episodes show: each topic passage and every
    retrieved passage. `sentence`: one per sentence (WoW's knowledge unit, as the wizard
    picks it); `passage`: the sentences of one retrieved passage joined."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    for episode in episodes:
        blocks = [{episode.get("chosen_topic", ""): episode["chosen_topic_passage"]}]
        blocks += [p for turn in episode["dialog"] for p in turn["retrieved_passages"]]
        for block in blocks:
            for title, sentences in block.items():
                sentences = [" ".join(s.split()) for s in sentences if s and s.strip()]
                if granularity == "sentence":
                    yield from ((title, s) for s in sentences)
                elif sentences:
                    yield title, " ".join(sentences)


def export_passages(folder, out, granularity: str = "sentence", files=SPLIT_FILES) -> dict:
    """Write the de-duplicated passages of the WoW files in `folder` to `out` (JSONL).

    Duplicates are the same (title, text) after whitespace normalisation; the first
    occurrence keeps its place, ids are `wow:<n>` in that order. Returns counts.
    """
    from rag_dialogue.tasks.wizard_of_wikipedia.agents import load_wow_file

    folder = Path(folder)
    present = [folder / f for f in files if (folder / f).is_file()]
    if not present:
        raise FileNotFoundError(f"no Wizard of Wikipedia files ({', '.join(files)}) in {folder}")
    seen, total = set(), 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for path in present:
            for title, text in iter_passages(load_wow_file(path), granularity):
                total += 1
                if (title, text) in seen:
                    continue
                seen.add((title, text))
                row = {"id": f"wow:{len(seen) - 1}", "title": title, "text": text}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"files": len(present), "passages_seen": total, "passages_written": len(seen),
            "titles": len({t for t, _ in seen}), "out": os.fspath(out)}
