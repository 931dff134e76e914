"""Automatic hallucination and grounding measures (proxies for the human ratings of Shuster et al. 2021).

All functions are pure. The project's teachers record them for every agent under these
ParlAI metric names (see `score_response`): `faithful_rate`, `hallucination_rate`,
`no_claim_rate`, `degenerate_rate` (the four response categories), `hallucination_score`,
`grounding_precision`, `follow_rate`, `stale_rate`, `decline_rate`, `read_out_rate`; the
RAG agent adds `recall@K`. F1, PPL, knowledge F1 and rare-word F1 come from ParlAI and its
WoW teacher.
"""

import functools
import json
import math
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
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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


@functools.lru_cache(maxsize=256)
def _content_stems(text: str) -> frozenset:
    """Porter stems of the content words of `text` (cached: one knowledge text serves many replies)."""
    return frozenset(stem(w) for w in content_words(text))


def _grounded_words(knowledge, history) -> frozenset:
    """Stems of the content words of the knowledge and the history."""
    return _content_stems(_as_text(knowledge)) | _content_stems(_as_text(history))


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


# The hallucination score is a logistic model of the lexical features below, fitted by
# `scripts/fit_hallucination_score.py` on public labelled data (see the README's
# "Metrics: how hallucination is measured"). Weights act on the raw feature values.
SCORE_FEATURES = ("unsupported", "unsupported_by_knowledge", "uncopied", "unmatched", "log_words")
SCORE_WEIGHTS = {
    "unsupported": 0.3710,
    "unsupported_by_knowledge": 3.9681,
    "uncopied": 3.8224,
    "unmatched": 1.8223,
    "log_words": 2.3073,
}
SCORE_BIAS = -9.7143
HALLUCINATED_ABOVE = 0.5  # the decision threshold on hallucination_score

CATEGORIES = ("faithful", "hallucinated", "no_claim", "degenerate")

# Words that carry an attitude but no checkable fact ("I love it, it's great fun").
GENERIC_WORDS = frozenset({
    "love", "loved", "like", "liked", "likes", "great", "good", "nice", "fun", "cool", "awesome",
    "amazing", "wonderful", "favorite", "favourite", "enjoy", "enjoyed", "lot", "lots", "pretty",
    "much", "thing", "things", "something", "anything", "definitely", "agree", "true", "sounds",
    "sound", "heard", "hear", "never", "ever", "kind", "sort", "fan", "glad", "happy", "sorry",
    "tell", "talk", "learn", "fact", "facts", "sure", "wish", "hope", "bet", "neat",
    "fascinating", "want", "would", "could", "get", "got", "go", "going", "one", "way", "time",
    "people", "person", "lol", "huh", "ah", "aw", "indeed", "absolutely", "totally", "mean",
})


@functools.lru_cache(maxsize=256)
def _sentences(text: str) -> tuple:
    """The knowledge as sentences: lines (ParlAI's `title __knowledge__ sentence` or ours
    `title / sentence`) split at sentence ends; `no_passages_used` lines dropped."""
    out = []
    for line in text.splitlines():
        if NO_PASSAGE in line:
            continue
        out.extend(s for s in _SENTENCE_END.split(line) if s.strip())
    return tuple(out)



@functools.lru_cache(maxsize=256)
def _knowledge_index(text: str):
    """(content stems, [(bigram set, token Counter)] per sentence) of a knowledge text."""
    per_sentence = []
    for sentence in _sentences(text):
        tokens = normalize(sentence).split()
        per_sentence.append((frozenset(zip(tokens, tokens[1:])), Counter(tokens)))
    return _content_stems(text), per_sentence


def _best_sentence_match(response: str, per_sentence) -> tuple[float, float]:
    """(bigram share, token F1) of each sentence of the response against the knowledge
    sentence it matches best, averaged over the response's bigrams and words: a reply may
    join two knowledge sentences."""
    copied = matched = bigram_count = word_count = 0
    for sentence in _SENTENCE_END.split(response.strip()):
        words = normalize(sentence).split()
        bigrams = list(zip(words, words[1:]))
        if bigrams:
            copied += max((sum(b in sent for b in bigrams) for sent, _ in per_sentence), default=0)
            bigram_count += len(bigrams)
        if words:
            matched += len(words) * max((_f1(words, counts) for _, counts in per_sentence), default=0.0)
            word_count += len(words)
    return copied / max(bigram_count, 1), matched / max(word_count, 1)


def _f1(pred: list, gold: Counter) -> float:
    common = sum((Counter(pred) & gold).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def hallucination_features(response: str, knowledge, history,
                           rare_words: Callable[[str], bool] | None = None) -> dict:
    """Lexical evidence that a response says more than its knowledge and history support.

    All in [0, 1] except `log_words`; higher means less supported:
      unsupported               share of content words (stems, with repeats) in neither the
                                knowledge nor the history
      unsupported_by_knowledge  the same, against the knowledge alone
      unsupported_rare          share of content words that are rare (`RareWords`) and unsupported
      unsupported_number        1.0 when a number is in neither the knowledge nor the history
      unsupported_name          1.0 when a capitalised word inside a sentence (a name: "Korean",
                                "Mekong") is in neither
      uncopied                  1 - the share of the response's word bigrams found in the
                                knowledge sentence that matches best (per response sentence)
      unmatched                 1 - the token F1 with the knowledge sentence that matches best
                                (per response sentence, weighted by its words)
      log_words                 log(1 + number of words of the response)
    """
    rare_words = rare_words or default_rare_words()
    response = response or ""
    k_stems, per_sentence = _knowledge_index(_as_text(knowledge))
    h_stems = _content_stems(_as_text(history))
    words = content_words(response)
    stems = [stem(w) for w in words]
    n = max(len(words), 1)
    tokens = normalize(response).split()
    copied, matched = _best_sentence_match(response, per_sentence)
    return {
        "unsupported": sum(s not in k_stems and s not in h_stems for s in stems) / n,
        "unsupported_by_knowledge": sum(s not in k_stems for s in stems) / n,
        "unsupported_rare": sum(rare_words(w) and s not in k_stems and s not in h_stems
                                for w, s in zip(words, stems)) / n,
        "unsupported_number": float(any(is_number(w) and s not in k_stems and s not in h_stems
                                        for w, s in zip(words, stems))),
        "unsupported_name": float(any(stem(w) not in k_stems and stem(w) not in h_stems
                                      for w in _name_words(response))),
        "uncopied": 1.0 - copied,
        "unmatched": 1.0 - matched,
        "log_words": math.log1p(len(tokens)),
    }


_INNER_CAPITALISED = re.compile(r"(?<![.!?:\"'(\[]\s)(?<=\s)[A-Z][\w'’-]*")


def _name_words(response: str) -> list[str]:
    """Content words of the capitalised words that do not start a sentence: names, which
    lowercased responses simply do not have."""
    return [w for token in _INNER_CAPITALISED.findall(response) for w in content_words(token)]


def score_from_features(features: dict) -> float:
    """The hallucination score of `hallucination_features` output: the logistic model, lifted
    above HALLUCINATED_ABOVE when the response holds an unsupported number or name (a made-up
    date or place is a made-up fact however much of the sentence is copied)."""
    z = SCORE_BIAS + sum(SCORE_WEIGHTS[name] * features[name] for name in SCORE_FEATURES)
    score = 1.0 / (1.0 + math.exp(-z))
    if features["unsupported_number"] or features["unsupported_name"]:
        score = HALLUCINATED_ABOVE + (1.0 - HALLUCINATED_ABOVE) * score
    return score


def hallucination_score(response: str, knowledge, history,
                        rare_words: Callable[[str], bool] | None = None) -> float:
    """How likely the response states something that neither the knowledge nor the history
    supports, in (0, 1): a logistic model of `hallucination_features`. The decision
    (`is_hallucinated`) is score >= HALLUCINATED_ABOVE for a response that makes a claim."""
    return score_from_features(hallucination_features(response, knowledge, history, rare_words))


def makes_claim(response: str, history) -> bool:
    """False for a generic response: no content word beyond the history's and GENERIC_WORDS
    ("That's great, I love it!", a question back about what was said)."""
    said = _content_stems(_as_text(history))
    return any(w not in GENERIC_WORDS and stem(w) not in said for w in content_words(response))


def response_category(response: str, knowledge, history,
                      rare_words: Callable[[str], bool] | None = None) -> str:
    """Exactly one of CATEGORIES, checked in this order: `degenerate` (`is_degenerate`),
    `no_claim` (not `makes_claim`), `hallucinated` (hallucination_score >= HALLUCINATED_ABOVE),
    else `faithful`. Babble is never faithful."""
    return _category(response, history, hallucination_score(response, knowledge, history, rare_words))


def _category(response: str, history, score: float) -> str:
    if is_degenerate(response):
        return "degenerate"
    if not makes_claim(claims_beyond_decline(response), history):
        return "no_claim"
    return "hallucinated" if score >= HALLUCINATED_ABOVE else "faithful"


# "I don't know", "I'm not sure", "I have no information about ...": the reply declines.
_DECLINE = re.compile(
    r"\b(i\s+(do\s*n[o']?t|don’t|dont)\s+know|i\s*('?m|am)\s+not\s+sure|"
    r"i\s+(have|had|found)\s+no\s+(information|idea|passage)|no\s+idea|i\s+could\s*n[o']?t\s+find|"
    r"i\s+ca\s*n[o']?t\s+(say|tell|find))\b", re.IGNORECASE)


def declines(response: str) -> bool:
    """True when the response says it does not know ("I don't know who wrote it", "I'm not
    sure about that")."""
    return bool(_DECLINE.search(response or ""))


def claims_beyond_decline(response: str) -> str:
    """The response without its sentences that decline: "I don't know who wrote The Glass
    Ferry." claims nothing, but "I don't know. It was built in 1889." still claims a date."""
    if not declines(response):
        return response or ""
    return " ".join(s for s in _SENTENCE_END.split(response.strip()) if not declines(s))


READ_OUT_SHARE = 0.8  # of the reply's words in one run of a knowledge sentence


def reads_out(response: str, knowledge, share: float = READ_OUT_SHARE) -> bool:
    """True when at least `share` of the response's words (normalised) form one contiguous
    run of a single knowledge sentence: the reply reads the sentence out rather than
    answering in its own words. Human Wizard of Wikipedia wizards do it in 4.7% of turns
    with a checked sentence (test seen; `share` 0.8)."""
    words = normalize(response).split()
    if len(words) < 3:
        return False
    run = max(1, math.ceil(share * len(words)))
    windows = {" " + " ".join(words[i:i + run]) + " " for i in range(len(words) - run + 1)}
    return any(w in sentence for sentence in _normalised_sentences(_as_text(knowledge)) for w in windows)


@functools.lru_cache(maxsize=256)
def _normalised_sentences(text: str) -> tuple:
    return tuple(" " + normalize(s) + " " for s in _sentences(text))


def is_hallucinated(response: str, knowledge, history,
                    rare_words: Callable[[str], bool] | None = None) -> bool:
    """True when the response's category is `hallucinated`: a fluent response that makes a
    claim its knowledge and history do not support (see `response_category`). The mean over
    responses is `hallucination_rate`."""
    return response_category(response, knowledge, history, rare_words) == "hallucinated"


def _contains(haystack: str, needle: str) -> bool:
    """Whole-token containment of normalised `needle` in normalised `haystack`."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


def gold_passage_rank(passages, gold_title: str, gold_sentence: str) -> int | None:
    """Index of the first passage (title, text) whose normalised text holds the normalised
    gold sentence (whole tokens); None when none does or there is no gold passage."""
    if not gold_sentence or NO_PASSAGE in (gold_sentence, gold_title):
        return None
    return next((k for k, (_, text) in enumerate(passages) if _contains(text, gold_sentence)), None)


def gold_passage_retrieved(passages, gold_title: str, gold_sentence: str) -> bool | None:
    """True when the normalised gold sentence occurs (whole tokens) inside the normalised
    text of at least one passage; `passages` is a list of (title, text).

    Titles are not compared (the same article is titled differently across dumps).
    None when there is no gold passage (`no_passages_used` or empty). The mean over
    examples, with the top-K passages, is `recall@K`.
    """
    if not gold_sentence or NO_PASSAGE in (gold_sentence, gold_title):
        return None
    return gold_passage_rank(passages, gold_title, gold_sentence) is not None


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


REPEATED_TRIGRAM_SHARE = 0.25  # looping output; fluent prose repeats a phrase ("GDP per capita") once


def is_degenerate(response: str, min_words: int = 3) -> bool:
    """Babble rather than a sentence (normalised words): fewer than ``min_words`` words, a word
    three times in a row, a phrase said twice in a row ("history of history of"), or a
    response where at least REPEATED_TRIGRAM_SHARE of the word 3-grams repeat an earlier one.

    Words are lowercased without punctuation, articles kept: "Shaka Zulu, Shaka the Zulu" is
    a list of names, not a loop."""
    words = _NOT_WORD.sub(" ", (response or "").lower()).split()
    if len(words) < min_words:
        return True
    if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
        return True
    for n in range(2, len(words) // 2 + 1):
        if any(words[i:i + n] == words[i + n:i + 2 * n] for i in range(len(words) - 2 * n + 1)):
            return True
    trigrams = list(zip(words, words[1:], words[2:]))
    return len(trigrams) - len(set(trigrams)) >= REPEATED_TRIGRAM_SHARE * len(trigrams)


def score_response(response: str, knowledge, history, changed_facts=None,
                   rare_words: Callable[[str], bool] | None = None) -> dict:
    """All response-level measures under their ParlAI metric names; a measure that does not
    apply to this example (see each function) is left out.

    The four category rates (`faithful_rate`, `hallucination_rate` for the `hallucinated`
    category, `no_claim_rate`, `degenerate_rate`) are 0/1 here and sum to 1. A reply that
    declines is `no_claim` unless its other sentences claim something; `decline_rate` and
    `read_out_rate` (see `reads_out`) are 0/1 too.
    """
    score = hallucination_score(response, knowledge, history, rare_words)
    category = _category(response, history, score)
    scores = {f"{name}_rate": float(category == name) for name in ("faithful", "no_claim", "degenerate")}
    scores["hallucination_rate"] = float(category == "hallucinated")
    scores["hallucination_score"] = score
    scores["decline_rate"] = float(declines(response))
    scores["read_out_rate"] = float(reads_out(response, knowledge))
    precision = grounding_precision(response, knowledge, history)
    if precision is not None:
        scores["grounding_precision"] = precision
    follows, stale = follow_the_index(response, changed_facts)
    if follows is not None:
        scores["follow_rate"], scores["stale_rate"] = float(follows), float(stale)
    return scores
