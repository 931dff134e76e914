"""Automatic hallucination and grounding measures (proxies for the human ratings of Shuster et al. 2021).

All functions are pure. The agent records them under these ParlAI metric names:
`grounding_precision`, `hallucination_rate`, `recall@K`, `follow_rate`, `stale_rate`.
F1, PPL, knowledge F1 and rare-word F1 come from ParlAI and its WoW teacher.
"""

import functools
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

NO_PASSAGE = "no_passages_used"  # ParlAI's WoW token for "the wizard used no passage"

# Discourse words carry no fact ("Sure! ...", "I think ..."), so they are not content words.
DISCOURSE_WORDS = frozenset({
    "yes", "yeah", "yep", "sure", "well", "oh", "okay", "ok", "actually", "really", "know",
    "think", "right", "hi", "hello", "hey", "thanks", "thank", "wow", "cool", "interesting",
    "also", "like", "guess", "maybe", "um", "uh", "hmm", "haha", "lol",
})
DEFAULT_COMMON_WORDS = 2000
_NOT_WORD = re.compile(r"[^\w\s]")  # any punctuation or symbol, Unicode included


@functools.lru_cache(maxsize=1)
def stopwords() -> frozenset:
    """ParlAI's English stopword list (the NLTK list its TF-IDF retriever uses)."""
    from parlai.agents.tfidf_retriever.utils import STOPWORDS

    return frozenset(STOPWORDS)


@functools.lru_cache(maxsize=1)
def _not_content() -> frozenset:
    return stopwords() | DISCOURSE_WORDS


def normalize(text: str) -> str:
    """ParlAI's `normalize_answer` (lowercase, no punctuation, no articles, single spaces),
    applied after stripping accents and turning every other non-word character
    (Unicode punctuation and symbols) into a space.

    Uncased WordPiece generators drop accents and split "1884–1886" at the dash; both
    sides of every comparison get this same normalisation.
    """
    from parlai.core.metrics import normalize_answer

    text = text or ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return normalize_answer(_NOT_WORD.sub(" ", text))


def content_words(text: str) -> list[str]:
    """The tokens of `normalize(text)` that are neither ParlAI stopwords nor DISCOURSE_WORDS,
    in order, with repeats."""
    skip = _not_content()
    return [w for w in normalize(text).split() if w not in skip]


def _as_text(parts) -> str:
    if parts is None:
        return ""
    if isinstance(parts, str):
        return parts
    return "\n".join(p if isinstance(p, str) else " ".join(p) for p in parts)


@functools.lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem (NLTK): an inflection of a knowledge word ("grossing" for "grossed",
    "honor" for "honored") restates the knowledge rather than inventing a fact."""
    return _stemmer().stem(word)


def _grounded_words(knowledge, history) -> set:
    """Stems of the content words of the knowledge and the history."""
    words = content_words(_as_text(knowledge)) + content_words(_as_text(history))
    return {stem(w) for w in words}


def grounding_precision(response: str, knowledge, history) -> float | None:
    """Share of the response's content words (with repeats) that occur among the content
    words of the knowledge or of the dialogue history (compared by Porter stem).

    `knowledge` and `history` are a string or a list of strings (or of (title, text)
    pairs). None when the response has no content words (it makes no claim to ground).
    """
    words = content_words(response)
    if not words:
        return None
    grounded = _grounded_words(knowledge, history)
    return sum(stem(w) in grounded for w in words) / len(words)


def is_number(word: str) -> bool:
    """A token with a digit in it ("1905", "20th", "3")."""
    return any(c.isdigit() for c in word)


@dataclass(frozen=True)
class RareWords:
    """A word is rare if it is a number or not among `common`, the most frequent words of a
    reference corpus. Callable: `rare_words(word) -> bool` on normalised words."""
    common: frozenset

    def __call__(self, word: str) -> bool:
        return is_number(word) or word not in self.common

    @classmethod
    def from_texts(cls, texts: Iterable[str], top_n: int = DEFAULT_COMMON_WORDS) -> "RareWords":
        """The `top_n` most frequent normalised words of `texts` are common (ties: alphabetical)."""
        counts = Counter(w for t in texts for w in normalize(t).split())
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(frozenset(w for w, _ in ranked[:top_n]))


@functools.lru_cache(maxsize=1)
def default_rare_words() -> RareWords:
    """Rare = a number, or not among the 2,000 most frequent words of the 7,168 human
    chit-chat conversations of `chitchat-dataset` (everyday English, task-independent, so
    rates compare across datasets). 'film' and 'american' are common; 'actress', 'france',
    'swedish', 'dynasty' are rare."""
    from rag_dialogue.tasks.vital_articles.corpus import chitchat_file

    data = json.loads(chitchat_file().read_text(encoding="utf-8"))
    texts = (m.get("text", "") for c in data.values() for turn in c.get("messages", []) for m in turn)
    return RareWords.from_texts(texts)


def unsupported_rare_words(response: str, knowledge, history,
                           rare_words: Callable[[str], bool] | None = None) -> list[str]:
    """The response's rare content words (see RareWords) that neither the knowledge nor the
    history contains (compared by Porter stem), in order."""
    rare_words = rare_words or default_rare_words()
    grounded = _grounded_words(knowledge, history)
    return [w for w in content_words(response) if rare_words(w) and stem(w) not in grounded]


def is_hallucinated(response: str, knowledge, history,
                    rare_words: Callable[[str], bool] | None = None) -> bool:
    """True when the response has at least one rare content word or number that neither the
    topic's knowledge nor the dialogue history contains (`unsupported_rare_words` not empty).

    `rare_words(word) -> bool` decides rarity; default `default_rare_words()`. The mean over
    responses is `hallucination_rate`.
    """
    return bool(unsupported_rare_words(response, knowledge, history, rare_words))


def _contains(haystack: str, needle: str) -> bool:
    """Whole-token containment of normalised `needle` in normalised `haystack`."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


def gold_passage_retrieved(passages, gold_title: str, gold_sentence: str) -> bool | None:
    """True when the normalised gold sentence occurs (whole tokens) inside the normalised
    text of at least one passage; `passages` is a list of (title, text).

    Titles are not compared (the same article is titled differently across dumps).
    None when there is no gold passage (`no_passages_used` or empty). The mean over
    examples, with the top-K passages, is `recall@K`.
    """
    if not gold_sentence or NO_PASSAGE in (gold_sentence, gold_title):
        return None
    return any(_contains(text, gold_sentence) for _, text in passages)


def follow_the_index(response: str, changed_facts) -> tuple[bool | None, bool | None]:
    """(follows, stale) for a counterfactual example: `follows` when the response states the
    new value of at least one changed fact, `stale` when it states at least one old value
    (whole tokens after normalisation). (None, None) when it states neither.

    `changed_facts` is a list of [old, new] pairs the gold response states. Means over the
    responses that state one are `follow_rate` and `stale_rate`.
    """
    news = [_contains(response, new) for _, new in changed_facts or ()]
    olds = [_contains(response, old) for old, _ in changed_facts or ()]
    if not any(news) and not any(olds):
        return None, None
    return any(news), any(olds)


def is_degenerate(response: str, min_words: int = 3) -> bool:
    """Babble rather than a sentence: fewer than ``min_words`` words, a word said three
    times in a row, or a word 3-gram that occurs twice (normalised words)."""
    words = normalize(response).split()
    if len(words) < min_words:
        return True
    if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
        return True
    trigrams = list(zip(words, words[1:], words[2:]))
    return len(set(trigrams)) < len(trigrams)


def score_response(response: str, knowledge, history, changed_facts=None,
                   rare_words: Callable[[str], bool] | None = None) -> dict:
    """All response-level measures under their ParlAI metric names; a measure that does not
    apply to this example (see each function) is left out."""
    scores = {"hallucination_rate": float(is_hallucinated(response, knowledge, history, rare_words)),
              "degenerate_rate": float(is_degenerate(response))}
    precision = grounding_precision(response, knowledge, history)
    if precision is not None:
        scores["grounding_precision"] = precision
    follows, stale = follow_the_index(response, changed_facts)
    if follows is not None:
        scores["follow_rate"], scores["stale_rate"] = float(follows), float(stale)
    return scores
