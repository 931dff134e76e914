"""One WoW-schema conversation about one article: apprentice asks and reacts, wizard answers from one sentence."""

import random
import re

from rag_dialogue.metrics import stopwords
from rag_dialogue.tasks.vital_articles.corpus import Article, lowercase_word_counts
from rag_dialogue.tasks.vital_articles.counterfactual import apply_changes

WIZARD, APPRENTICE = "1_Wizard", "0_Apprentice"  # WoW numbers speakers by who spoke first
MIN_WORDS, MAX_WORDS = 5, 40  # a gold sentence must be a whole, short sentence

OPENERS = (
    "What can you tell me about {t}?", "Do you know anything about {t}?",
    "I'd like to learn about {t}.", "Tell me about {t}.", "Have you heard of {t}?",
    "I don't know much about {t}. What is it?", "Can we talk about {t}?",
    "What do you know about {t}?", "I was reading about {t} the other day.",
    "{t} has always interested me.",
)
FOLLOW_UPS = (
    "What else do you know?", "Tell me more.", "Anything else about it?",
    "What else can you tell me?", "Go on, please.", "Is there more to it?", "And what else?",
    "I'd like to hear more.", "What else should I know?", "Tell me something else about it.",
)
CUED_FOLLOW_UPS = (  # {w}: a word of the sentence the wizard will use, as a real apprentice cues it
    "What about {w}?", "Is there anything about {w}?", "I've heard something about {w}.",
    "Tell me more about {w}.", "And {w}?", "What does {w} have to do with it?",
)
# Lead-ins made of discourse words only, so a gold response stays fully grounded.
LEAD_INS = ("Sure! ", "Well, ", "Yes, ", "Oh, ", "Actually, ", "I know that ", "I think ", "So, ", "Right, ")
_CUE_WORD = re.compile(r"\b[a-z]{5,}\b")


def gold_candidates(article: Article) -> list[int]:
    """Indexes of the sentences a wizard may speak from (whole sentences of 5-40 words)."""
    return [
        i for i, s in enumerate(article.sentences)
        if MIN_WORDS <= len(s.split()) <= MAX_WORDS and s.rstrip("\"')”’").endswith((".", "!", "?"))
    ]


def _title_key(title: str) -> str:
    # WoW keys a checked sentence as "<who>_<Title_With_Underscores>_<index>"
    return title.replace(" ", "_")


def _wizard_text(sentence: str, title: str, rng: random.Random, lead_in_rate: float) -> str:
    if rng.random() >= lead_in_rate:
        return sentence
    lead_in = rng.choice(LEAD_INS)
    first, _, rest = sentence.partition(" ")
    # "The ..." -> "Well, the ...", but "Abel Tasman ..." keeps its capital
    common = first.isalpha() and first not in title and lowercase_word_counts()[first.lower()] >= 3
    if rest and common and not lead_in.endswith("! "):
        sentence = first.lower() + " " + rest
    return lead_in + sentence


def _cue_word(sentence: str, said: str, title: str, rng: random.Random) -> str | None:
    seen = set(re.findall(r"\w+", (said + " " + title).lower())) | stopwords()
    # the rarest words of the sentence are its specific nouns ("tagma", "supernatural")
    counts = lowercase_word_counts()
    words = sorted({w for w in _CUE_WORD.findall(sentence) if w not in seen}, key=lambda w: (counts[w], w))
    return rng.choice(words[:2]) if words else None


def make_episode(article: Article, related: list[Article], rng: random.Random, *,
                 reactions=(), max_turns: int = 4, lead_in_rate: float = 0.35) -> dict:
    """A conversation in WoW's JSON schema; the apprentice speaks first.

    `related[k]` is the article retrieved for apprentice turn k, shown to the wizard
    beside the topic's own passage (WoW shows several; one distractor keeps inputs short).
    """
    candidates = gold_candidates(article)
    n = min(len(candidates), rng.randint(2, max_turns))
    if candidates[0] == 0 and rng.random() < 0.7:  # most conversations open with the definition
        chosen = [0] + sorted(rng.sample(candidates[1:], n - 1))
    else:
        chosen = sorted(rng.sample(candidates, n))
    passage = list(article.sentences)
    dialog, said = [], ""
    for turn, index in enumerate(chosen):
        sentence = article.sentences[index]
        if turn == 0:
            question = rng.choice(OPENERS).format(t=article.title)
        else:
            cue = _cue_word(sentence, said, article.title, rng) if rng.random() < 0.5 else None
            question = rng.choice(CUED_FOLLOW_UPS).format(w=cue) if cue else rng.choice(FOLLOW_UPS)
            if reactions and rng.random() < 0.5:
                reaction = rng.choice(reactions)
                question = f"{reaction}{'' if reaction[-1] in '.!?' else '.'} {question}"
        other = related[turn % len(related)] if related else None
        dialog.append({
            "speaker": APPRENTICE,
            "text": question,
            "retrieved_topics": [other.title] if other else [],
            "retrieved_passages": [{other.title: list(other.sentences)}] if other else [],
        })
        text = _wizard_text(sentence, article.title, rng, lead_in_rate)
        key = _title_key(article.title)
        dialog.append({
            "speaker": WIZARD,
            "text": text,
            "retrieved_topics": [],
            "retrieved_passages": [],
            "checked_sentence": {f"chosen_{key}_{index}": sentence},
            "checked_passage": {f"chosen_{key}": article.title},
        })
        said += " " + question + " " + text
    return {
        "chosen_topic": article.title,
        "chosen_topic_passage": passage,
        "persona": f"i would like to learn about {article.title.lower()}.",
        "wizard_eval": 5,
        "dialog": dialog,
    }


def counterfactual_episode(episode: dict, changes) -> dict:
    """The same conversation told from the counterfactual article.

    Every text of the article (its passage, the turns, the checked sentences) has the
    changes applied; each wizard turn records under `changed_facts` the [old, new] pairs
    its text states. Passages of other (unchanged) articles stay as they are.
    """
    title = episode["chosen_topic"]

    def swap(text):
        return apply_changes(text, changes)[0]

    passage = [swap(s) for s in episode["chosen_topic_passage"]]
    dialog = []
    for entry in episode["dialog"]:
        entry = dict(entry)
        text, used = apply_changes(entry["text"], changes)
        entry["text"] = text
        entry["retrieved_passages"] = [
            {t: (passage if t == title else sents)} for p in entry["retrieved_passages"] for t, sents in p.items()
        ]
        if "checked_sentence" in entry:
            entry["checked_sentence"] = {k: swap(v) for k, v in entry["checked_sentence"].items()}
            entry["changed_facts"] = [list(pair) for pair in used]
        dialog.append(entry)
    return {**episode, "chosen_topic_passage": passage, "dialog": dialog,
            "counterfactual_changes": [list(pair) for pair in changes]}
