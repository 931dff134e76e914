"""Real Wizard of Wikipedia conversations that ship with rag-dialogue (seen splits, processed).

`data/` holds WoW's valid-seen (981 dialogues) and test-seen (965) conversations as the
public FSB repository processed them (see `data/ATTRIBUTION.md`): per dialogue the
apprentice/wizard pairs and, per pair, the sentence the wizard checked (or none). This
module turns them into WoW's own JSON schema, so ParlAI's WoW teachers (and every measure
of the project's teachers) read them as they read the full download.

What the processed files lost is filled in openly:
  chosen_topic          not kept: guessed from the checked sentences (`guess_title`), e.g.
                        "Asthma is a common long-term ..." -> "Asthma"
  chosen_topic_passage  the dialogue's checked sentences, in order (the knowledge the
                        wizard used; the other sentences the wizard was shown are lost)
  the wizard's opening  a wizard-first dialogue lost its first turn; it starts with the
                        apprentice

The test split is for reporting only: nothing trains or tunes on it.
"""

import gzip
import json
import re
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
FILES = {"valid": "wow_valid_seen.fsb.json.gz", "test": "wow_test_seen.fsb.json.gz"}
WIZARD, APPRENTICE = "1_Wizard", "0_Apprentice"

# "Asthma is ...", "Stamp collecting is ...", "Robert Norman Ross (October 29, 1942 – ...) was ..."
_SUBJECT = re.compile(r"^([A-Z0-9][^\s,;:()]*(?: [^\s,;:()]+){0,4}?)(?: \([^)]*\))?,? (?:is|was|are|were|has|had)\b")
_NOT_A_TITLE = {"it", "this", "that", "these", "those", "he", "she", "they", "there", "in", "the",
                "a", "an", "his", "her", "its", "their", "some", "many", "most", "one", "also", "today"}
_CAPITALISED_SPAN = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][\w'’-]+(?: (?:of |the |de |and )?[A-Z][\w'’-]+)*")


def load(split: str) -> list:
    """The processed dialogues of `split` ("valid" or "test") as published."""
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(FILES)}")
    with gzip.open(DATA_DIR / FILES[split], "rt", encoding="utf-8") as f:
        return json.load(f)


def guess_title(sentences: list, first_message: str = "") -> str:
    """A Wikipedia-style title for a dialogue whose topic was not kept: the subject of the
    first checked sentence that opens "<subject> is/was ...", else the capitalised name
    the sentences and the opening message repeat most, else "Chit-chat"."""
    from rag_dialogue.metrics import stopwords

    for sentence in sentences:
        m = _SUBJECT.match(sentence)
        first = m.group(1).split()[0].lower() if m else ""
        if m and first not in _NOT_A_TITLE and first not in stopwords():
            return m.group(1)
    counts = {}
    for text in (*sentences, first_message):
        for span in _CAPITALISED_SPAN.findall(text):
            if span.split()[0].lower() not in stopwords():
                counts[span] = counts.get(span, 0) + 1
    if counts:
        return max(counts, key=lambda s: (counts[s], len(s)))
    return "Chit-chat"


def to_wow_episode(dialogue: dict) -> dict:
    """One processed dialogue -> one episode in WoW's schema (apprentice first)."""
    pairs, meta = dialogue["dialogue"], dialogue["meta"]
    if len(pairs) != len(meta):
        raise ValueError(f"{len(pairs)} turn pairs but {len(meta)} knowledge entries")
    checked = [m[0] if m else None for m in meta]
    knowledge = list(dict.fromkeys(s for s in checked if s))
    title = guess_title(knowledge, pairs[0][0] if pairs else "")
    key = title.replace(" ", "_")
    dialog = []
    for t, (pair, sentence) in enumerate(zip(pairs, checked)):
        if len(pair) < 2:  # an apprentice turn nobody answered
            break
        apprentice, wizard = pair[0], pair[1]
        dialog.append({"speaker": APPRENTICE, "text": apprentice, "retrieved_topics": [],
                       "retrieved_passages": []})
        turn = {"speaker": WIZARD, "text": wizard, "retrieved_topics": [], "retrieved_passages": []}
        if sentence:
            turn["checked_sentence"] = {f"chosen_{key}_{knowledge.index(sentence)}": sentence}
            turn["checked_passage"] = {f"chosen_{key}": title}
        else:
            turn["checked_sentence"] = {}
            turn["checked_passage"] = {}
        dialog.append(turn)
    return {"chosen_topic": title, "chosen_topic_passage": knowledge,
            "persona": "", "wizard_eval": 5, "dialog": dialog}


def episodes(split: str) -> list:
    """The dialogues of `split` in WoW's schema (those with at least one answered turn)."""
    out = [to_wow_episode(d) for d in load(split)]
    return [e for e in out if e["dialog"]]


def knowledge_passages(wow_episodes: list, prefix: str) -> list:
    """Sentence passages ({id, title, text}) of the episodes' knowledge, de-duplicated."""
    seen, rows = set(), []
    for e, episode in enumerate(wow_episodes):
        for i, sentence in enumerate(episode["chosen_topic_passage"]):
            if (episode["chosen_topic"], sentence) in seen:
                continue
            seen.add((episode["chosen_topic"], sentence))
            rows.append({"id": f"{prefix}{e}#{i}", "title": episode["chosen_topic"], "text": sentence})
    return rows
