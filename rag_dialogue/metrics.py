"""Automatic hallucination and grounding measures (proxies for the human ratings of Shuster et al. 2021).

All functions are pure. The project's teachers record them for every agent under these
ParlAI metric names (see `score_response`): `faithful_rate`, `hallucination_rate`,
`no_claim_rate`, `degenerate_rate` (the four response categories), `hallucination_score`,
`inconsistency_score`, `grounding_precision`, `follow_rate`, `stale_rate`, `decline_rate`,
`read_out_rate`; the RAG agent adds `recall@K`. F1, PPL, knowledge F1 and rare-word F1 come
from ParlAI and its WoW teacher.
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
# a passage's sentences end after a word of two letters or more, before a capital: "c. 2600
# BC" and "U.S. Navy" go on (replies are split as above, so the measures stay as fitted)
_PASSAGE_SENTENCE_END = re.compile(r"(?<=\w\w[.!?])\s+(?=[A-Z\"“(])")


def passage_sentences(text: str) -> list[str]:
    """The sentences of a passage's text: "It was built c. 2600 BC over a period of about
    26 years." is one."""
    return [s for s in _PASSAGE_SENTENCE_END.split((text or "").strip()) if s.strip()]


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


def knowledge_passages(knowledge) -> list:
    """The knowledge as (title, text) pairs: a line "title / sentence" (as the teachers
    write it) or a pair gives both, other text has no title."""
    parts = (knowledge or "").split("\n") if isinstance(knowledge, str) else list(knowledge or [])
    passages = []
    for part in parts:
        if isinstance(part, str):
            title, sep, text = part.partition(" / ")
            passages.append((title, text) if sep else ("", part))
        else:
            passages.append((part[0], part[1]) if len(part) > 1 else ("", part[0]))
    return passages


@functools.lru_cache(maxsize=1)
def _stemmer():
    # Importing NLTK draws from Python's global random state. Training resumed from a
    # checkpoint restores that state, and the first stem taken after it (a batch's names)
    # then drew other training examples than the uninterrupted run: keep the state as it was.
    import random

    state = random.getstate()
    try:
        from nltk.stem.porter import PorterStemmer

        return PorterStemmer()
    finally:
        random.setstate(state)


_CARDINALS = "one two three four five six seven eight nine ten eleven twelve".split()
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
# a small number written in words stems as its digits: "fourth" and "4th" state the same rank
_NUMBER_STEMS = {**{w: str(i) for i, w in enumerate(_CARDINALS, 1)},
                 **{w: f"{i}{'st' if i == 1 else 'nd' if i == 2 else 'rd' if i == 3 else 'th'}"
                    for i, w in enumerate(_ORDINALS, 1)}}


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter stem (NLTK): an inflection of a knowledge word ("grossing" for "grossed",
    "honor" for "honored") restates the knowledge rather than inventing a fact. A number up
    to twelve written in words stems as its digits ("fourth" as "4th", "nine" as "9")."""
    return _NUMBER_STEMS.get(word) or _stemmer().stem(word)


@functools.lru_cache(maxsize=256)
def _content_stems(text: str) -> frozenset:
    """Porter stems of the content words of `text` (cached: one knowledge text serves many replies)."""
    return frozenset(stem(w) for w in content_words(text))


content_stems = _content_stems  # the public name (retrieval's topic bonus reads it too)


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
        # one normalisation of all texts (a newline keeps them apart): half the time of one each
        counts = Counter(normalize("\n".join(texts)).split())
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(frozenset(w for w, _ in ranked[:top_n]))


@functools.lru_cache(maxsize=1)
def default_rare_words() -> RareWords:
    """Rare = a number, or not among the 2,000 most frequent words of the 7,168 human
    chit-chat conversations of `chitchat-dataset` (everyday English, task-independent, so
    rates compare across datasets). 'film' and 'american' are common; 'actress', 'france',
    'swedish', 'dynasty' are rare.

    Counting 2.4 million words takes seconds (a chat's first reply waited for it), so the
    list is kept in the cache folder, keyed by the dataset file's size and time."""
    from rag_dialogue.paths import chitchat_file, home
    from rag_dialogue.utils import write_json_atomic

    source = chitchat_file()
    stat = source.stat()
    key = {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "top_n": DEFAULT_COMMON_WORDS}
    cached = home() / "common_words.json"
    try:
        saved = json.loads(cached.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return RareWords(frozenset(saved["words"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: counted again
    data = json.loads(source.read_text(encoding="utf-8"))
    texts = [m.get("text", "") for c in data.values() for turn in c.get("messages", []) for m in turn]
    rare = RareWords.from_texts(texts)
    try:
        write_json_atomic(cached, {"key": key, "words": sorted(rare.common)})
    except OSError:
        pass  # a read-only cache folder: counted every time
    return rare


def unsupported_rare_words(response: str, knowledge, history,
                           rare_words: Callable[[str], bool] | None = None) -> list[str]:
    """The response's rare content words (see RareWords) that neither the knowledge nor the
    history contains (compared by Porter stem), in order."""
    rare_words = rare_words or default_rare_words()
    grounded = _grounded_words(knowledge, history)
    return [w for w in content_words(response) if rare_words(w) and stem(w) not in grounded]


# The hallucination score is a logistic model of the lexical features below, fitted by
# `scripts/fit_hallucination_score.py` on the development portions of three kinds of
# public human labels, each kind weighing the same: attribution (BEGIN's WoW, CMU-DoG and
# Topical-Chat dev sets, with this project's 43 hand labels), factual consistency (the dev
# halves of Q²'s labels and of its cross-annotated responses), gold and model responses
# mixed (a dev half of FaithDial's audit); see the README's "Metrics: how hallucination is
# measured". Weights act on the raw feature values.
SCORE_FEATURES = (
    "unsupported", "unsupported_by_knowledge", "uncopied", "unmatched", "log_words",
    "unsupported_claims", "uncopied_claims", "unmatched_claims", "worst_sentence",
    "substituted", "unsupported_impersonal", "question_share", "personal_share", "recombined",
    "unsupported_quantity", "unsupported_worldly", "claims_worldly", "self_repeated",
)
SCORE_WEIGHTS = {
    "unsupported": -1.0098,
    "unsupported_by_knowledge": 2.0711,
    "uncopied": 1.9822,
    "unmatched": 1.9192,
    "log_words": 0.6842,
    "unsupported_claims": 1.0730,
    "uncopied_claims": -0.7703,
    "unmatched_claims": -0.9595,
    "worst_sentence": 1.0160,
    "substituted": 0.0428,
    "unsupported_impersonal": 0.0027,
    "question_share": -0.1800,
    "personal_share": 0.4198,
    "recombined": 0.9296,
    "unsupported_quantity": 0.5129,
    "unsupported_worldly": 0.5258,
    "claims_worldly": -0.2040,
    "self_repeated": 1.1106,
}
SCORE_BIAS = -4.5340
HALLUCINATED_ABOVE = 0.5  # the decision threshold on hallucination_score

# The inconsistency score (`inconsistency_score`) is a logistic model fitted by the same script
# (`--model consistency`) on the development portions of factual-consistency labels alone (Q²'s
# dev half and the dev half of its cross-annotated responses); its features were chosen one at a
# time by their cross-validated ROC AUC there. They are correlated, so a weight alone says
# little: "unsupported_worldly" (positive) against "unsupported_impersonal" (negative) weighs
# most what a clause says beneath "I do know that".
CONSISTENCY_FEATURES = (
    "uncopied", "unsupported_rare", "recombined", "self_repeated", "unsupported_worldly",
    "unsupported_impersonal",
)
CONSISTENCY_WEIGHTS = {
    "uncopied": 1.3200,
    "unsupported_rare": 4.8213,
    "recombined": 1.7362,
    "self_repeated": 1.1071,
    "unsupported_worldly": 3.0075,
    "unsupported_impersonal": -2.3524,
}
CONSISTENCY_BIAS = -2.0370
INCONSISTENT_ABOVE = 0.5  # the decision threshold on inconsistency_score

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
    """(content stems, [(bigram set, token Counter, negated, content stems in order, tokens)] per
    sentence, token Counter of the whole text) of a knowledge text."""
    skip = _not_content()
    per_sentence = []
    for sentence in _sentences(text):
        tokens = normalize(sentence).split()
        per_sentence.append((frozenset(zip(tokens, tokens[1:])), Counter(tokens), _negated(tokens),
                             tuple(stem(t) for t in tokens if t not in skip), tuple(tokens)))
    return _content_stems(text), per_sentence, Counter(normalize(text).split())


# Negations, as normalize() leaves them ("don't" -> "dont", "don ' t" -> "don t").
NEGATIONS = frozenset({
    "not", "no", "never", "nor", "none", "nothing", "neither", "nobody", "cannot", "t", "without",
    "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant", "couldnt", "wont",
    "wouldnt", "shouldnt", "havent", "hasnt", "hadnt", "aint",
})


def _negated(tokens) -> bool:
    """An odd number of negations: "is not" negates, "not only ... never" cancels out."""
    return sum(t in NEGATIONS for t in tokens) % 2 == 1


# Words that state a quantity or a rank without digits ("a quarter step", "the second most
# popular"); "one" is left out ("one of the most ...").
QUANTITY_WORDS = frozenset({
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "hundreds",
    "thousand", "thousands", "million", "millions", "billion", "billions", "dozen", "dozens",
    "half", "quarter", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "last", "twice", "once", "double", "triple", "single", "both",
})


def _is_quantity(word: str) -> bool:
    return word in QUANTITY_WORDS or is_number(word)


FIRST_PERSON = frozenset({"i", "im", "ive", "id", "ill", "me", "my", "mine", "myself", "we", "our", "us"})


def _stated(claim: str) -> list:
    """The normalised words of the clauses of `claim` that do not speak of the speaker, less
    a leading answer particle: "No, but the film has 92%" states "the film has 92%"."""
    clauses = (normalize(clause).split() for clause in _BUT.split(claim))
    words = [w for clause in clauses if not FIRST_PERSON.intersection(clause) for w in clause]
    return words[1:] if words[:1] in (["no"], ["yes"], ["nope"]) else words


# "I do know that X", "I think X", "I heard that X": a frame about the speaker around a claim
# about the world, which is judged as if said alone.
_FRAME = re.compile(r"\b(?:i|we)\s+(?:do\s+|also\s+|really\s+)?(?:know|knew|think|believe|heard|hear|read|"
                    r"learned|learnt|remember|guess)\s+(?:that\s+)?", re.IGNORECASE)


def _recombined(words: list, sentence) -> tuple:
    """(pairs, recombined pairs): consecutive content words of a claim that are both in its
    best-matching knowledge sentence, and of those the pairs the sentence has in the other order
    or more than three content words apart ("Italian cuisine was influenced by French cuisine"
    from "French cuisine was influenced by Italian cuisine")."""
    skip = _not_content()
    positions = {}
    for i, s in enumerate(sentence[3]):
        positions.setdefault(s, []).append(i)
    stems = [stem(w) for w in words if w not in skip]
    pairs = [(positions[a], positions[b]) for a, b in zip(stems, stems[1:])
             if a in positions and b in positions and a != b]
    return len(pairs), sum(not any(0 < j - i <= 3 for i in first for j in second) for first, second in pairs)


def _dropped_quantity(words: list, sentence) -> bool:
    """True when the knowledge sentence qualifies a word the claim repeats by a quantity the
    claim leaves out: "the largest manufacturer" from "the eighth largest manufacturer"."""
    said = set(words)
    tokens = sentence[4]
    return any(_is_quantity(t) and t not in said and tokens[i + 1] in said and tokens[i + 1] not in _not_content()
               for i, t in enumerate(tokens[:-1]))


def _best_match(words: list, per_sentence) -> tuple:
    """(bigrams of `words`, most of them in one knowledge sentence, best token F1 with one
    knowledge sentence, index of that sentence or None)."""
    bigrams = list(zip(words, words[1:]))
    copied = max((sum(b in k[0] for b in bigrams) for k in per_sentence), default=0) if bigrams else 0
    f1s = [_f1(words, k[1]) for k in per_sentence] if words else []
    best_f1 = max(f1s, default=0.0)
    return bigrams, copied, best_f1, f1s.index(best_f1) if f1s else None


def _sentence_evidence(response: str, k_stems, h_stems, per_sentence) -> dict:
    """Per-sentence evidence of a response, each sentence against the knowledge sentence it
    matches best, combined over the whole response and over its *claim sentences* alone
    (neither a question nor free of content words beyond the history's and GENERIC_WORDS):
    "Have you ever seen an orc? They are fictional humanoid creatures." claims only the second."""
    skip = _not_content()
    copied = matched = bigram_count = word_count = 0
    c_copied = c_matched = c_bigrams = c_words = c_content = c_unsupported = 0
    question_words = personal_words = 0
    worst = 0.0
    flips = substituted = i_content = i_unsupported = 0
    r_pairs = r_recombined = dropped = quantities = w_content = w_unsupported = repeated = 0
    for sentence in _SENTENCE_END.split(response.strip()):
        words = normalize(sentence).split()
        if not words:
            continue
        bigrams, best_copied, best_f1, best = _best_match(words, per_sentence)
        copied += best_copied
        bigram_count += len(bigrams)
        matched += len(words) * best_f1
        word_count += len(words)
        if sentence.rstrip().endswith("?"):
            question_words += len(words)
            continue
        claim = _beyond_decline(sentence)
        if claim != sentence:  # "I'm not sure, but ...": only the clause after "but" claims
            words = normalize(claim).split()
            bigrams, best_copied, best_f1, best = _best_match(words, per_sentence)
        stems = [stem(w) for w in words if w not in skip]
        if not any(w not in GENERIC_WORDS and s not in h_stems
                   for w, s in zip((w for w in words if w not in skip), stems)):
            continue  # says nothing beyond attitude and the history
        if FIRST_PERSON.intersection(words):
            personal_words += len(words)
        unsupported = sum(s not in k_stems and s not in h_stems for s in stems)
        for clause in _BUT.split(claim):  # "I'm not a big fan, but his parents were Black Panthers"
            clause_words = normalize(clause).split()
            if not FIRST_PERSON.intersection(clause_words):
                clause_stems = [stem(w) for w in clause_words if w not in skip]
                i_content += len(clause_stems)
                i_unsupported += sum(s not in k_stems and s not in h_stems for s in clause_stems)
        if best is not None:
            pairs, recombined = _recombined(words, per_sentence[best])
            r_pairs += pairs
            r_recombined += recombined
            dropped += _dropped_quantity(words, per_sentence[best])
            # a content word said again within the claim more often than its knowledge sentence
            # says it: a garbled sentence ("the most densely populated borough of Manhattan")
            counts, known = Counter(stems), Counter(per_sentence[best][3])
            repeated += any(n > 1 and n > known[s] for s, n in counts.items())
        quantities += any(_is_quantity(w) and stem(w) not in k_stems and stem(w) not in h_stems for w in words)
        for clause in _BUT.split(_FRAME.sub("", claim)):  # "I don't know any, but I do know that tea is ..."
            clause_words = normalize(clause).split()
            if not FIRST_PERSON.intersection(clause_words):
                clause_stems = [stem(w) for w in clause_words if w not in skip]
                w_content += len(clause_stems)
                w_unsupported += sum(s not in k_stems and s not in h_stems for s in clause_stems)
        c_copied += best_copied
        c_bigrams += len(bigrams)
        c_matched += len(words) * best_f1
        c_words += len(words)
        c_content += len(stems)
        c_unsupported += unsupported
        worst = max(worst, unsupported / max(len(stems), 1))
        # a sentence that keeps most words of a knowledge sentence but changes one: a swapped
        # relation, quantity or name ("a quarter step" for "a half step")
        substituted += best_f1 >= 0.5 and unsupported > 0
        if best_f1 >= 0.3:  # a negation the matching knowledge sentence does not have, or the reverse
            flips += _negated(_stated(claim)) != per_sentence[best][2]
    return {
        "uncopied": 1.0 - copied / max(bigram_count, 1),
        "unmatched": 1.0 - matched / max(word_count, 1),
        "uncopied_claims": 1.0 - c_copied / c_bigrams if c_bigrams else 0.0,
        "unmatched_claims": 1.0 - c_matched / c_words if c_words else 0.0,
        "unsupported_claims": c_unsupported / c_content if c_content else 0.0,
        "worst_sentence": worst,
        "unsupported_impersonal": i_unsupported / i_content if i_content else 0.0,
        "negation_flip": float(flips > 0),
        "substituted": float(substituted > 0),
        "question_share": question_words / max(word_count, 1),
        "personal_share": personal_words / max(word_count, 1),
        "log_claim_words": math.log1p(c_words),
        "recombined": r_recombined / r_pairs if r_pairs else 0.0,
        "dropped_quantity": float(dropped > 0),
        "unsupported_quantity": float(quantities > 0),
        "unsupported_worldly": w_unsupported / w_content if w_content else 0.0,
        "claims_worldly": float(w_content > 0),
        "self_repeated": float(repeated > 0),
    }


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
      unsupported_rare          share of content words that are rare (`RareWords`) or a number
                                written in words ("second") and unsupported
      unsupported_number        1.0 when a number is in neither the knowledge nor the history
      unsupported_name          1.0 when a capitalised word inside a sentence (a name: "Korean",
                                "Mekong") is in neither
      blended_name              1.0 when a name of two or more words joins pieces of names that
                                nothing writes together (`blended_name`: "The Royal Blue Skies"
                                from "The Royal Blue" and "Blue Skies"), each word supported
      uncopied                  1 - the share of the response's word bigrams found in the
                                knowledge sentence that matches best (per response sentence)
      unmatched                 1 - the token F1 with the knowledge sentence that matches best
                                (per response sentence, weighted by its words)
      log_words                 log(1 + number of words of the response)
      unmatched_knowledge       1 - the token F1 with the whole knowledge (the baseline measure)
      degenerate                1.0 when the response is babble (`is_degenerate`)

    Per-sentence evidence over the *claim sentences* only (not questions, not the declining
    clause of "I'm not sure, but ...", not sentences of attitude alone; see `_sentence_evidence`),
    each against the knowledge sentence it matches best; 0 when nothing is claimed:
      unsupported_claims        share of their content words in neither knowledge nor history
      uncopied_claims, unmatched_claims   as uncopied and unmatched
      worst_sentence            the largest share of unsupported content words in one sentence
      unsupported_impersonal    unsupported share in their clauses without "I", "my", "we" ...
      substituted               1.0 when a sentence keeps most of a knowledge sentence (token
                                F1 >= 0.5) but has an unsupported word: a changed relation,
                                quantity or name
      negation_flip             1.0 when a sentence (F1 >= 0.3 with its knowledge sentence)
                                negates what that sentence does not, or the reverse
      question_share            share of the response's words in questions
      personal_share            share in claim sentences that speak of "I", "my", "we" ...
      log_claim_words           log(1 + words of the claim sentences)
      recombined                share of consecutive content words of a claim, both in its
                                knowledge sentence, that stand there in the other order or more
                                than three content words apart: knowledge words recombined into
                                another relation ("Italian cuisine was influenced by French")
      dropped_quantity          1.0 when a claim repeats a word its knowledge sentence qualifies
                                by a quantity or rank it leaves out ("largest" for "eighth largest")
      unsupported_quantity      1.0 when a claim has a number, quantity or rank word ("second",
                                "quarter", "dozens") in neither the knowledge nor the history
      unsupported_worldly       unsupported share of what the claims say about the world: their
                                clauses without "I", "my", "we" ..., once a frame such as "I do
                                know that" or "I think" is taken off what it frames
      claims_worldly            1.0 when some claim clause says something about the world
      self_repeated             1.0 when a claim says a content word more often (twice or more)
                                than its knowledge sentence does: a garbled sentence ("Manhattan
                                is the most densely populated borough of Manhattan")
    `SCORE_FEATURES` and `CONSISTENCY_FEATURES` name the ones each score uses; the others
    were measured and left out (negation_flip, dropped_quantity: ROC AUC about 0.5 alone on
    every labelled set, firing on under a tenth of the replies).
    """
    rare_words = rare_words or default_rare_words()
    response = response or ""
    k_stems, per_sentence, k_tokens = _knowledge_index(_as_text(knowledge))
    h_stems = _content_stems(_as_text(history))
    words = content_words(response)
    stems = [stem(w) for w in words]
    n = max(len(words), 1)
    tokens = normalize(response).split()
    return {
        "unsupported": sum(s not in k_stems and s not in h_stems for s in stems) / n,
        "unsupported_by_knowledge": sum(s not in k_stems for s in stems) / n,
        "unsupported_rare": sum((rare_words(w) or is_number(s)) and s not in k_stems and s not in h_stems
                                for w, s in zip(words, stems)) / n,
        "unsupported_number": float(any(is_number(w) and s not in k_stems and s not in h_stems
                                        for w, s in zip(words, stems))),
        "unsupported_name": float(any(stem(w) not in k_stems and stem(w) not in h_stems
                                      for w in name_words(response))),
        "blended_name": float(blended_name(response, knowledge_passages(knowledge), history) is not None),
        "log_words": math.log1p(len(tokens)),
        "unmatched_knowledge": 1.0 - _f1(tokens, k_tokens) if tokens else 1.0,
        "degenerate": float(_is_babble(response, knowledge, history)),
        **_sentence_evidence(response, k_stems, h_stems, per_sentence),
    }


_INNER_CAPITALISED = re.compile(r"(?<![.!?:\"'(\[]\s)(?<=\s)[A-Z][\w'’-]*")


def uncapitalised_words(text: str) -> list[str]:
    """The words `text` writes in lowercase, in order: what it tells of, its names aside
    ("... co-founded the American Telephone and Telegraph Company" -> "co-founded", "the",
    "and")."""
    return [w for w in re.findall(r"[A-Za-z][\w'-]*", text or "") if w[0].islower()]


def name_words(response: str) -> list[str]:
    """Content words of the capitalised words that do not start a sentence: names, which
    lowercased responses simply do not have."""
    return [w for token in _INNER_CAPITALISED.findall(response) for w in content_words(token)]


def _logistic(features: dict, weights: dict, bias: float) -> float:
    z = bias + sum(weight * features[name] for name, weight in weights.items())
    return 1.0 / (1.0 + math.exp(-min(max(z, -700.0), 700.0)))


def _lifted(score: float) -> float:
    """`score` moved into [0.5, 1): past every decision threshold of 0.5."""
    return 0.5 + 0.5 * score


def score_from_features(features: dict) -> float:
    """The hallucination score of `hallucination_features` output: the logistic model, lifted
    above HALLUCINATED_ABOVE when the response holds an unsupported number or name, or a name
    blended from two (a made-up date, place or title is a made-up fact however much of the
    sentence is copied), and when it is babble (never scored faithful, whatever words it
    repeats)."""
    score = _logistic(features, SCORE_WEIGHTS, SCORE_BIAS)
    if (features["unsupported_number"] or features["unsupported_name"] or features["blended_name"]
            or features["degenerate"]):
        score = _lifted(score)
    return score


def inconsistency_from_features(features: dict, weights: dict = CONSISTENCY_WEIGHTS,
                                bias: float = CONSISTENCY_BIAS) -> float:
    """The inconsistency score of `hallucination_features` output: the logistic model of
    CONSISTENCY_FEATURES (or of other `weights`, as the trained checker's combination),
    lifted above INCONSISTENT_ABOVE when a claim states a number, quantity or rank the
    knowledge and history do not ("ranked second" for "ranked fifth"), a name blended from
    two, and for babble."""
    score = _logistic(features, weights, bias)
    lift = features["unsupported_quantity"] or features["blended_name"] or features["degenerate"]
    return _lifted(score) if lift else score


def inconsistency_score(response: str, knowledge, history,
                        rare_words: Callable[[str], bool] | None = None) -> float:
    """How likely the response states something about the world that its knowledge does not
    bear out, in (0, 1): a factual-consistency measure beside `hallucination_score`.

    Fitted on factual-consistency labels (Q²'s), which judge only what a response says
    about the world: "I have been a fan since 1963, when they moved to Baltimore" is
    consistent with "In 1963, they relocated to Baltimore", where attribution labels (and
    `hallucination_score`) count the speaker's own story as unsupported. It weighs knowledge
    words recombined into another relation, unsupported quantities and rare words, and what
    is said beneath "I do know that". The decision is `is_inconsistent`."""
    return inconsistency_from_features(hallucination_features(response, knowledge, history, rare_words))


def is_inconsistent(response: str, knowledge, history,
                    rare_words: Callable[[str], bool] | None = None) -> bool:
    """True for a fluent response that makes a claim (not `degenerate`, not `no_claim`) whose
    inconsistency_score is at least INCONSISTENT_ABOVE."""
    features = hallucination_features(response, knowledge, history, rare_words)
    score = inconsistency_from_features(features)
    return _category(response, history, score, bool(features["degenerate"]), INCONSISTENT_ABOVE) == "hallucinated"


def hallucination_score(response: str, knowledge, history,
                        rare_words: Callable[[str], bool] | None = None) -> float:
    """How likely the response states something that neither the knowledge nor the history
    supports, in (0, 1): a logistic model of `hallucination_features`. The decision
    (`is_hallucinated`) is score >= HALLUCINATED_ABOVE for a response that makes a claim."""
    return score_from_features(hallucination_features(response, knowledge, history, rare_words))


def _turns(history) -> list:
    """The dialogue's turns, from a string (a turn a line) or a list."""
    return history.split("\n") if isinstance(history, str) else list(history or [])


def _asks_last(turns: list) -> bool:
    """Whether the last turn asks a question: its words name what it asks about, which a
    reply must support rather than take as given."""
    return bool(turns) and turns[-1].rstrip().endswith("?")


def makes_claim(response: str, history) -> bool:
    """False for a generic response: no content word beyond the history's and GENERIC_WORDS
    ("That's great, I love it!", a question back about what was said)."""
    turns = _turns(history)
    said = _content_stems(_as_text(turns[:-1] if _asks_last(turns) else turns))
    return any(w not in GENERIC_WORDS and stem(w) not in said for w in content_words(response))


def response_category(response: str, knowledge, history,
                      rare_words: Callable[[str], bool] | None = None,
                      threshold: float = HALLUCINATED_ABOVE) -> str:
    """Exactly one of CATEGORIES, checked in this order: `degenerate` (`is_degenerate`),
    `no_claim` (not `makes_claim`), `hallucinated` (hallucination_score >= `threshold`,
    HALLUCINATED_ABOVE unless told), else `faithful`. Babble is never faithful."""
    features = hallucination_features(response, knowledge, history, rare_words)
    return _category(response, history, score_from_features(features), bool(features["degenerate"]), threshold)


def _is_babble(response: str, knowledge, history) -> bool:
    """`is_degenerate`, a name said twice as the knowledge or the dialogue writes it excepted."""
    return is_degenerate(response, written=(_as_text(knowledge), _as_text(history)))


def _category(response: str, history, score: float, degenerate: bool, threshold: float = HALLUCINATED_ABOVE) -> str:
    """The category of a response whose score and babble (`_is_babble`) are known."""
    if degenerate:
        return "degenerate"
    if not makes_claim(claims_beyond_decline(response), history):
        return "no_claim"
    return "hallucinated" if score >= threshold else "faithful"


# "I don't know", "I'm not sure", "I have no information about ...": the reply declines.
# Apostrophes may be curly or stand apart ("i ' m not sure", as tokenised replies print).
_DECLINE = re.compile(
    r"\b(i\s+(do\s*n\s*[o'’]?\s*t|dont)\s+know|i\s*(['’]?\s*m|am)\s+not\s+sure|"
    r"i\s+(have|had|found)\s+no\s+(information|idea|passage)|no\s+idea|i\s+could(\s*n\s*['’]?\s*t|\s+not)\s+find|"
    r"i\s+can(\s*not|\s*['’]?\s*t)\s+(say|tell|find))\b", re.IGNORECASE)


_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")


def declines(response: str) -> bool:
    """True when the response says it does not know ("I don't know who wrote it", "I'm not
    sure about that"); not when the words stand in quotes, a title's ("The Beatles' first
    album was 1962's "I don't know what I do"" claims an album)."""
    return bool(_DECLINE.search(_QUOTED.sub('""', response or "")))


def claims_beyond_decline(response: str) -> str:
    """The response without its sentences that decline: "I don't know who wrote The Glass
    Ferry." claims nothing, but "I don't know. It was built in 1889." still claims a date."""
    if not declines(response):
        return response or ""
    return " ".join(_beyond_decline(s) for s in _SENTENCE_END.split(response.strip()) if _beyond_decline(s))


def statements(response: str) -> str:
    """The response less its questions: "Blue is a primary colour. Do you like it?" states
    only its first sentence; a question asks and claims nothing."""
    return " ".join(s for s in _SENTENCE_END.split((response or "").strip()) if not s.rstrip().endswith("?"))


def _statement_sentences(response: str) -> list:
    """The sentences of `statements(response)`: what the sentence-level checks read."""
    return _SENTENCE_END.split(statements(response or "").strip())


def _lowered_words(sentence: str) -> list:
    """A sentence's words, lowercased, punctuation left out: how the read-out checks match
    a reply against `_passage_sentence_words`."""
    return [w.lower() for w in _NOT_WORD.sub(" ", sentence).split()]


def _passage_sentence_words(passages) -> list:
    """(title, its words lowercased, its words as written) of every sentence of `passages`
    ((title, text) pairs), punctuation left out: what a reply's read-out runs are found in."""
    return [(title, [w.lower() for w in as_written], as_written)
            for title, text in passages for sentence in passage_sentences(text)
            for as_written in [_NOT_WORD.sub(" ", sentence).split()]]


_BUT = re.compile(r"(?:,\s*|\s)but\s", re.IGNORECASE)


def _beyond_decline(sentence: str) -> str:
    """A sentence less its declining clause: "I'm not sure, but it was built in 1889" still
    claims the date; a sentence that only declines leaves nothing."""
    match = _DECLINE.search(sentence)
    if not match:
        return sentence
    rest = _BUT.search(sentence, match.end())
    return sentence[rest.end():].strip() if rest else ""


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


_WORD_AS_WRITTEN = re.compile(r"[^\W_][\w'’]*")


# superlatives rank as "second" does: "Brasilia is the largest of the 26 states" joins
# Brazil's "largest country" to its "26 states"
SUPERLATIVES = frozenset({
    "largest", "biggest", "smallest", "tallest", "highest", "lowest", "longest", "shortest",
    "oldest", "youngest", "newest", "deepest", "fastest", "slowest", "greatest", "heaviest",
    "lightest", "richest", "poorest", "hottest", "coldest", "widest", "earliest", "latest",
    "most", "least",
})


def _key_stems(sentence: str) -> set:
    """Stems of the words of a sentence that carry its facts: numbers, quantity and rank
    words ("second", "largest"), and capitalised content words (names); the first word only
    if it is not an everyday one ("Awesome, players ...", "Mars is ...")."""
    keys = set()
    common = default_rare_words().common
    for i, token in enumerate(_WORD_AS_WRITTEN.findall(sentence or "")):
        for word in content_words(token):
            if _is_quantity(word) or word in SUPERLATIVES or (token[0].isupper() and (i > 0 or word not in common)):
                keys.add(stem(word))
    return keys


def _sentence_stems(passages) -> list:
    """The content stems of each sentence of `passages` ((title, text) pairs), its title's
    with it: what one passage sentence says of its subject."""
    return [_content_stems(title) | _content_stems(sentence)
            for title, text in passages for sentence in passage_sentences(text)]


def blended_sentence(response: str, passages, history) -> str | None:
    """The first claim sentence of `response` whose key words (`_key_stems`) are not all in
    one sentence of one passage ((title, text) pairs; the title counts in each of its
    sentences), else None. `history` holds the dialogue's turns (a string, a turn a line, or
    a list), the partner's last. Key words the partner said need no passage, except those
    of a last turn that asks a question: they name what it asks about ("Which planet is
    second from the Sun?"). The replies before (every second turn back from the partner's
    last) count as passage sentences.

    Every word of such a sentence is in the passages, so the word-level measures call it
    faithful, but it joins what two sentences say into a claim neither makes: asked "Which
    planet is second from the Sun?" with Mercury's, Mars's and Neptune's first sentences,
    "Mars is the second planet from the Sun."; "Emperor of the French from 1804 until his
    first abdication in 1815" from "Emperor of the French from 1804 until 1814 and briefly
    again in 1815"; after "the best-known sections were built by the Ming dynasty", "The
    first walls were built by the Ming dynasty". A sentence with one key word is left to
    the other measures."""
    turns = _turns(history)
    partner, replies = turns[::-1][::2], turns[::-1][1::2]
    said = _content_stems(_as_text(partner[1:] if _asks_last(turns) else partner))
    evidence = _sentence_stems(list(passages) + [("", r) for r in replies])
    for sentence in _statement_sentences(response):
        claim = _beyond_decline(sentence)
        keys = _key_stems(claim) - said
        if len(keys) >= 2 and not any(keys <= held for held in evidence):
            return sentence
    return None


# how often something holds: one in place of another is the passage's claim in other words
# ("Sushi is a traditional Japanese dish ..., usually seasoned" for "typically seasoned")
_HEDGES = frozenset("usually typically often generally commonly mostly normally frequently mainly largely "
                    "primarily chiefly sometimes".split())


def swapped_ending(response: str, passages, history, min_run: int = 6) -> str | None:
    """The first claim sentence of `response` that reads out at least `min_run` words of a
    passage sentence ((title, text) pairs), then leaves it where the passage goes on, either
    with a content word that no passage and no dialogue turn holds (a run that opens the
    sentence), or with a number or name in place of the passage's next one (a run
    anywhere); else None.

    The words before the turn are the passage's, so the word-level measures call such a
    sentence faithful (and read out), but its ending is another claim: asked "What is the
    capital of Australia?" with Melbourne's "Melbourne is the capital and most populous
    city of the Australian state of Victoria ...", "Melbourne is the capital and most
    populous city of the Australian capital territory."; asked "When did that happen?"
    of the first Moon landing, "... and the first crewed mission to land on the moon was
    Apollo 11 in Apollo 2." for "... in 1969." (chat replies). So does a run that leaves
    its passage for a phrase of place, time or agent that reads out another passage
    sentence: "The genus of the coffee plant is native to tropical Africa, specifically in
    the equatorial regions of the Americas, Southeast Asia, and India.", where the Americas
    are where coffee is grown now."""
    turns = _turns(history)
    held = _content_stems(" ".join(f"{title} {text}" for title, text in passages)) | _content_stems(_as_text(turns))
    written = _passage_sentence_words(passages)
    for sentence in _statement_sentences(response):
        as_written = _NOT_WORD.sub(" ", sentence).split()
        words = [w.lower() for w in as_written]
        if not words:
            continue
        for _, passage, passage_as_written in written:
            for first in range(len(words)):
                for start in (j for j, w in enumerate(passage) if w == words[first]):
                    run = 0
                    while (first + run < len(words) and start + run < len(passage)
                           and words[first + run] == passage[start + run]):
                        run += 1
                    if min_run <= run and start + run == len(passage) and _adds_a_key(
                            as_written[first + run:], written, turns):
                        return sentence  # read to its end, then a name of its own: "... foundry in the town of Gillan."
                    if not (min_run <= run and first + run < len(words) and start + run < len(passage)):
                        continue
                    if first == 0 and {stem(w) for w in content_words(" ".join(words[run:]))
                                       if w not in _HEDGES} - held:
                        return sentence
                    # past an article: "the fall of the Western Roman Empire" for "the fall of Constantinople"
                    turn, went = _past_article(words, first + run), _past_article(passage, start + run)
                    if (_a_key(passage_as_written, went) and _a_key(as_written, turn)
                            and words[turn] not in passage[went:went + 4]
                            and not _a_key(passage_as_written, start + run - 1)):
                        # a word or two left out ("of the Nile, Alexandria" for "of the Nile
                        # Delta, Alexandria"), or a name cut short, is no other claim
                        return sentence
                    if words[first + run] in _PREPOSITIONS and _continues_another(
                            words[first:first + run], words[first + run:first + run + min_run - 1], written):
                        return sentence
    return None


def _past_article(words: list, i: int) -> int:
    """The index of the word after an article at `i` (lowercase `words`), else `i`."""
    return i + 1 if i + 1 < len(words) and words[i] in ("the", "a", "an") else i


def _adds_a_key(tail: list, written, turns) -> bool:
    """Whether `tail`, the words (as written) a sentence goes on with past the end of the
    passage sentence it read out, is a phrase of place, time or agent that holds a number or
    a name (`_a_key`) and is no run of a
    passage sentence (of `written`) or a turn: a claim of its own joined on. Asked where
    Tallow Street Market's roof was made, "The market's iron roof was made at the Gillan
    foundry in the town of Gillan.", its passage ending at "foundry"."""
    lowered = [w.lower() for w in tail]
    # a phrase of place, time or agent ("in the town of Gillan"), not a remark of the speaker's own
    if not lowered or lowered[0] not in _PREPOSITIONS or not any(
            _a_key(tail, i) and tail[i] != "I" for i in range(len(tail))):
        return False
    said = [[w.lower() for w in _NOT_WORD.sub(" ", turn).split()] for turn in turns]
    return not any(lowered == words[j:j + len(lowered)]
                   for words in [p for _, p, _ in written] + said for j in range(len(words) - len(lowered) + 1))


# words that open a phrase of place, time or agent, which a verb before them takes as its own
_PREPOSITIONS = frozenset("in on at from of by for with during since after before into near across".split())


def _continues_another(run: list, then: list, written) -> bool:
    """Whether the words `then` read out another passage sentence (of `written`, as
    `_passage_sentence_words` gives them) that holds under half of the content words of
    `run`, the words read out before them: a phrase of another sentence's claim."""
    before = set(content_words(" ".join(run)))
    for _, passage, _ in written:
        at = [j for j, w in enumerate(passage) if w == then[0]]
        if any(passage[j:j + len(then)] == then for j in at) and len(before & set(passage)) * 2 < len(before):
            return True
    return False


def swapped_lead(response: str, passages, min_run: int = 6) -> str | None:
    """The first claim sentence of `response` that reads out at least `min_run` words of a
    passage sentence ((title, text) pairs), not from its start, after words of its own: a
    word before the run that is not among the 2,000 commonest and that neither the passage
    sentence's words before the run nor its title hold (a number is the numbers rules'),
    else None.

    The run is the passage's, so the word-level measures call the sentence faithful, but
    what leads into it makes it a claim about something else. Asked "What do you know
    about honey bees?" with Honey's "Honey is a sweet and viscous substance made by
    several species of bees, ...", the chat said "Oh, Honey bees are a sweet and viscous
    substance made by several species of bees, ..."; asked when the Moon landing
    happened, "The first crewed or robotic spacecraft to touch the Moon was Apollo 11 in
    1969." (Luna 2 touched it first). Conversational words before the run ("I know that
    honey is ...", what leads up to a "that") and a pronoun or a title for the subject
    ("Giraffes are ..." for Giraffe's "They are ...") keep the passage's claim; a title for
    a name the passage's sentence gives does not (`_renamed`)."""
    common = default_rare_words().common
    written = _passage_sentence_words(passages)
    capitalised = {w.lower() for _, text in passages for w in re.findall(r"\b[A-Z][\w'-]*", text)}
    for sentence in _statement_sentences(response):
        words = _lowered_words(sentence)
        kept = []  # per passage sentence read out: whether it holds the words before its first run
        for title, passage, _ in written:
            for first, start in ((f, j) for f in range(1, len(words) - min_run + 1)
                                 for j in range(1, len(passage)) if passage[j] == words[f]):
                if words[first:first + min_run] == passage[start:start + min_run]:
                    held = {stem(w) for w in content_words(" ".join(passage[:start]) + " " + title)}
                    lead = words[:first]  # "I think it is important to mention that": not a claim
                    lead = lead[len(lead) - lead[::-1].index("that"):] if "that" in lead else lead
                    own = {stem(w) for w in content_words(" ".join(lead))
                           if w not in common and not is_number(w) and w not in QUANTITY_WORDS}
                    kept.append(not own - held and not _renamed(passage[:start], lead, title, capitalised))
                    break
        # one passage holding it will do: "one of the six main characters who appeared in
        # ... Friends" is in Monica's sentence and in Rachel's
        if kept and not any(kept):
            return sentence
    return None


def _renamed(before: list, lead: list, title: str, capitalised: set) -> bool:
    """Whether a read-out run's subject, named in the passage's sentence by a name that is
    not its title's (`before`, its words before the run; a name: written capitalised in the
    passages, `capitalised`), is named by the title instead (`lead`, the reply's words
    before the run) and by none of those words: the title stands for a pronoun or a
    description ("Giraffes are ..." for Giraffe's "They are ...", "Van Halen was ..." for
    "The band was ..."), not for another name ("Japan is the country's capital" for Japan's
    "Tokyo is the country's capital")."""
    titled = {stem(w) for w in content_words(title)}
    written = content_words(" ".join(before))
    held = {stem(w) for w in written}
    named = any(w in capitalised for w in written)
    said = {stem(w) for w in content_words(" ".join(lead))}
    return named and not held & titled and bool(said & titled) and not said & held


def runs_on(response: str, passages, min_run: int = 6) -> str | None:
    """The first claim sentence of `response` that reads out a passage sentence ((title,
    text) pairs) to its end, its last `min_run` words at least, then goes on, without a
    sentence's end, with two words or more that say nothing but what the run and the title
    said; else None. Asked "Where was Amalric Sorensby born?", the chat said "He was born in
    1803 in the town of Kelvo in the 1803 Amalric Sorensby was born": the passage's sentence,
    then a stutter of its words. An ending that says something more is left to the other
    checks."""
    for sentence in _statement_sentences(response):
        words = _lowered_words(sentence)
        for title, passage, _ in _passage_sentence_words(passages):
            tail = passage[-min_run:]
            ends = [i + min_run for i in range(len(words) - min_run + 1) if words[i:i + min_run] == tail]
            for end in ends:
                rest = {stem(w) for w in content_words(" ".join(words[end:]))}
                said = {stem(w) for w in content_words(" ".join(words[:end]) + " " + title)}
                if len(words) - end >= 2 and rest and rest <= said:  # "..., I don't really." says no more
                    return sentence
    return None


# an ordinal: "fourth", "4th", "thirteenth", "twentieth"
_RANK = re.compile(r"^(?:\d+(?:st|nd|rd|th)|[a-z]+teenth|[a-z]+ieth|" + "|".join(_ORDINALS) + r")$")


def _rank_before(words: list, i: int) -> tuple:
    """The words that rank the superlative at `words[i]`: an ordinal ("fourth largest",
    "4th largest") or "one of" ("one of the largest", "one of its largest"); () where none
    does."""
    if i >= 1 and _RANK.match(words[i - 1]):
        return (words[i - 1],)
    if i >= 3 and words[i - 3:i - 1] == ["one", "of"]:  # "one of the largest", "one of its largest"
        return ("one", "of")
    return ()


def dropped_rank(response: str, passages) -> str | None:
    """The first claim sentence of `response` with a superlative ("largest", "most") that
    every passage sentence ((title, text) pairs, the title counted) holding it and half the
    sentence's content words ranks, by an ordinal or "one of the", where the sentence does
    not; else None. Asked "What's the biggest planet?", with Neptune's "It is the
    fourth-largest planet in the Solar System by diameter" retrieved, the chat said "Neptune
    is the largest planet in the solar system.": every word is the passage's."""
    written = [(_content_stems(f"{title} {' '.join(words)}"), words) for title, words, _ in _passage_sentence_words(passages)]
    for sentence in _statement_sentences(response):
        words = _lowered_words(sentence)
        claim = _content_stems(sentence)
        for i, word in enumerate(words):
            if word not in SUPERLATIVES or _rank_before(words, i):
                continue
            holding = [passage for stems, passage in written
                       if word in passage and 2 * len(claim & stems) >= len(claim)]
            # where the passage says it again, the place that ranks the same word ("the fourth
            # largest desert in the world and the largest in Asia": "largest desert")
            places = [(passage, j) for passage in holding for j, w in enumerate(passage) if w == word]
            following = [(passage, j) for passage, j in places if passage[j + 1:j + 2] == words[i + 1:i + 2]]
            if places and all(_rank_before(passage, j) for passage, j in following or places):
                return sentence
    return None


def _same_root(a: str, b: str, root: int = 5) -> bool:
    """Stems of one root: equal, or sharing their first `root` letters ("volcan" and
    "volcano", which Porter stems apart)."""
    return a == b or (len(a) >= root and len(b) >= root and a[:root] == b[:root])


# "the most common", not "most people" or "at least"
_MOST = re.compile(r"\b(?:the|its|his|her|their)\s+(most|least)\s+([a-z]+)", re.IGNORECASE)


def unheld_superlative(response: str, passages, history=()) -> str | None:
    """The first superlative of a claim sentence of `response` (a word of SUPERLATIVES but
    "most" and "least", or "the most"/"the least" with the word after it) that no passage ((title,
    text) pairs) and no turn says (by stem); else None. A ranking is a claim of its own:
    asked "Why is the sky blue?" with Blue's passages, none of which ranks it, the chat
    said "Blue is the most commonly used colour in the spectrum of visible light."."""
    written = " ".join([f"{title} {text}" for title, text in passages] + list(_turns(history)))
    held = {stem(w) for w in _lowered_words(written)}
    mosts = {(m.group(1).lower(), stem(m.group(2).lower())) for m in _MOST.finditer(written)}
    for sentence in _statement_sentences(response):
        for word in _lowered_words(sentence):
            if word in SUPERLATIVES and word not in ("most", "least") and stem(word) not in held:
                return word
        for m in _MOST.finditer(sentence):
            if (m.group(1).lower(), stem(m.group(2).lower())) not in mosts:
                return m.group(0)
    return None


# words that join clauses, not claims ("..., though some may be self-employed")
_CONNECTIVES = frozenset("though although however yet even still".split())


# words that give a cause ("resulting in" gives an effect)
_CAUSE = re.compile(r"\b(?:because|due\s+to|caused|causes|cause\s+of|(?:the|a|as\s+a)\s+result\s+of|owing\s+to|"
                    r"thanks\s+to|led\s+to|leads?\s+to|the\s+reasons?\s+(?:for|why)\s+\w+\s+(?:is|was|are|were))\b",
                    re.IGNORECASE)


def unheld_cause(response: str, passages, history=()) -> str | None:
    """The words that give a cause in a claim sentence of `response` ("because of") where
    the passage sentence it says again (the one holding most of its words; (title, text)
    pairs) gives none, nor does a dialogue turn; else None. Asked "Why did they go
    extinct?" of dinosaurs, a reply joined "They became extinct because of the
    Triassic-Jurassic extinction event." from "They became the dominant terrestrial
    vertebrates after the Triassic-Jurassic extinction event ..." and Extinction's "This
    difficulty leads to phenomena such as Lazarus taxa.": every word but the cause is a
    passage's, and the cause is what was asked."""
    if any(_CAUSE.search(t) for t in _turns(history)):
        return None
    sentences = [(_content_stems(f"{title} {' '.join(written)}"), " ".join(written))
                 for title, _, written in _passage_sentence_words(passages)]
    for claim in _statement_sentences(response):
        found = _CAUSE.search(_beyond_decline(claim))
        if not found:
            continue
        stems = _content_stems(claim)
        most = max((len(stems & held) for held, _ in sentences), default=0)
        if not any(_CAUSE.search(text) for held, text in sentences if len(stems & held) == most):
            return found.group(0)
    return None


def inserted_word(response: str, passages, history=(), min_words: int = 4) -> str | None:
    """The first content word of a claim sentence of `response` that says a passage
    sentence ((title, text) pairs) again with one word put in: every other content word of
    the sentence (at least `min_words`) is that passage sentence's or its title's, and
    this one is neither, nor a dialogue turn's, nor a hedge ("usually"), a connective
    ("though") or a word of attitude (`GENERIC_WORDS`); else None.

    Its words are the passages' all but one, so the word-level measures call it faithful,
    but the one word is a claim no passage makes of that subject: "The Vantorel
    Observatory is the main astronomical observatory on the slopes of Mount Crasken ..."
    from "... is an astronomical observatory ...", with "main" taken from "Its main
    telescope ..."; "There are 12,000 people in the world who speak Kavorian ..." from
    "About 12,000 people speak Kavorian ..."."""
    said = _content_stems(_as_text(_turns(history)))
    sentences = _sentence_stems(passages)
    for claim in _statement_sentences(response):
        words = [(w, stem(w)) for w in content_words(_beyond_decline(claim))
                 if w not in _HEDGES and w not in _CONNECTIVES and w not in GENERIC_WORDS]
        if len({s for _, s in words}) <= min_words:
            continue
        # the sentence it says again is the one that leaves fewest of its words out
        beyond = min(({(w, s) for w, s in words if s not in held and s not in said} for held in sentences),
                     key=lambda b: len({s for _, s in b}), default=set())
        if len({s for _, s in beyond}) == 1:
            return sorted(beyond)[0][0]
    return None


def moved_superlative(response: str, passages, history=()) -> str | None:
    """The first claim sentence of `response` with a superlative whose content word after
    it (what it ranks: "the largest planet") follows it in no passage sentence ((title,
    text) pairs) and no dialogue turn that holds it, two content words apart at most;
    else None. Asked "What's the biggest planet?", with Neptune's "the eighth and farthest
    known planet" and Triton's "the largest natural satellite of the planet Neptune"
    retrieved, a chat said "Neptune is the largest planet in the solar system.": the
    passages rank a moon so, not a planet. So does one whose last word before the phrase
    ends (`superlative_scopes`) is none that the passages rank so: "The Mariana Trench is
    the deepest ocean on Earth." from "the deepest oceanic trench on Earth". Of the 3,939
    wizard replies of the shipped WoW valid-seen conversations it flags 6 against their
    checked sentences, paraphrases and claims of the wizard's own ("the fastest breed of
    dogs")."""
    texts = [text for _, text in passages] + _turns(history)
    written = [[stem(w) for w in content_words(sentence)] for text in texts for sentence in passage_sentences(text)]
    heads = {}  # what each superlative ranks where it is said, not asked
    for text in texts:
        for said in passage_sentences(text):
            for word, what, _, _ in superlative_scopes(said) if not said.rstrip().endswith("?") else ():
                heads.setdefault(word, []).append(what)
    for sentence in _statement_sentences(response):
        words = [stem(w) for w in content_words(sentence)]
        for i, word in enumerate(words[:-1]):
            if word not in SUPERLATIVES or word == "least":  # "at least" ranks nothing
                continue
            ranked = words[i + 1]
            holding = [w for w in written if word in w]
            if holding and not any(_same_root(ranked, other) for w in holding for j, x in enumerate(w)
                                   if x == word for other in w[j + 1:j + 3]):
                return sentence
        # ... and by the word it ranks: "the deepest ocean" of "the deepest oceanic trench"
        if any(heads.get(word) and not any(ranks_alike(what, other) for other in heads[word])
               for word, what, _, _ in superlative_scopes(sentence)):
            return sentence
    return None


# where a superlative is scoped to a named place: "the highest mountain peak in North America"
_SCOPE = re.compile(r"^(?:\s+[\w'’-]+){0,3}?\s+(?:in|of|on|outside)\s+(?:the\s+)?"
                    r"(?:[A-Z]\.(?:[A-Z]\.)+\s+)?(?:[a-z]+\s+(?:of\s+)?)?"  # "of mainland Australia", "in the U.S. state of Maine"
                    r"([A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)")
# "known", "named", "grown" and "apparently" follow what is ranked
_PARTICIPLE = re.compile(r"(?:ed|wn|\w{5}ly)$")
# what ends the words a superlative ranks: "the fastest land animal, capable of ..."
_PHRASE_END = re.compile(r"[,;:!?()]|(?<!\b[A-Z])\.|\b(?:in|of|on|at|by|from|to|with|for|and|or|than|that|which|who|"
                         r"is|are|was|were|among|between|across|within|during|since|into|per|as|like)\b",
                         re.IGNORECASE)
_WINDOW = 120  # characters read before and after a superlative
_OWNER = re.compile(r"\b([A-Z][\w-]*)['’]s\s+$")  # "Europe's highest mountain"
_THE_WORLD = frozenset({"world", "earth", "globe", "planet", "solar", "universe"})
# the adjective "most" or "least" makes a superlative of, past an adverb: "the most widely spoken"
_MOST_ADJECTIVE = re.compile(r"^\s+(?:[a-z]+ly\s+)?([a-z]{4,})\b")
_MOST_AFTER = re.compile(r"(?:\bthe|\b(?:its|their|his|her)|['’]s)\s+$", re.IGNORECASE)
# a superlative that goes on from the thing a sentence said its subject is: "Jupiter is the
# fifth planet from the Sun, and the largest in the Solar System"
_ELIDED = re.compile(r"\b(?:is|was|are|were)\s+(?:the|an?)\s+([^;:]*?),?\s+and\s+(?:also\s+)?the\s+$")


def superlative_scopes(sentence: str) -> list:
    """The (superlative stem, stems of what it ranks, scope, plural) of `sentence`'s
    unranked superlatives: "the highest mountain peak in North America" gives ("highest",
    ("peak", "mountain"), "North America", False), "the highest mountains on each
    continent" a plural (a set, not the one). "most" and "least" rank only with the
    adjective they make a superlative of, after "the" or an owner ("the world's most popular
    sport" gives ("most popular", ("sport",), "", False)), stemmed by `superlative_stem`.
    What it ranks are the content words before a preposition, a conjunction, a comma or a
    participle, the last of them first, as the one ranked ("the fastest land animal", "the
    largest city named ..."; "the biggest in China" ranks nothing, but "the fifth planet
    from the Sun, and the largest in the Solar System" ranks the planet it goes on from);
    the scope is a named place within three words after the superlative or owning it
    ("Europe's highest"), "" where none does or the world does ("on Earth", "Earth's
    highest")."""
    found = []
    for m in re.finditer(r"\b[A-Za-z]+\b", sentence):
        word = m.group(0).lower()
        if word not in SUPERLATIVES:
            continue
        # (windows of the words around it: a pasted text of a megabyte stays linear)
        before, following = sentence[max(0, m.start() - _WINDOW):m.start()], sentence[m.end():m.end() + _WINDOW]
        if word in ("most", "least"):
            adjective = _MOST_ADJECTIVE.match(following)
            if not adjective or not _MOST_AFTER.search(before):  # "most of them", "at least"
                continue
            word, following = made_superlative(word, adjective), following[adjective.end():]
        words = _lowered_words(before + m.group(0))
        after = content_words(_PHRASE_END.split(following, 1)[0])  # "the biggest in China" ranks nothing
        if not after:
            going_on = _ELIDED.search(before)  # "... the fifth planet from the Sun, and the largest in ..."
            after = content_words(_PHRASE_END.split(going_on.group(1), 1)[0]) if going_on else []
            after = [w for w in after if not _RANK.match(w)]
        if not after or _rank_before(words, len(words) - 1) or (len(words) > 1 and (
                words[-2] in _CARDINALS or words[-2].isdigit())):  # "the ten highest mountains"
            continue
        scope = _SCOPE.match(following) or _OWNER.search(before)
        place = scope.group(1) if scope else ""
        if {stem(w) for w in place.lower().split()} & _THE_WORLD:
            place = ""
        cut = next((i for i, w in enumerate(after) if i and _PARTICIPLE.search(w)), len(after))
        after = [w for w in after[:cut] if w not in ("one", "ones") and not is_number(w)]  # "the biggest one"
        if not after:
            continue
        head = after[-1]  # "the largest permanent desert lake" ranks lakes
        plural = head.endswith("s") and not head.endswith("ss") and stem(head) != head
        found.append((superlative_stem(word), tuple(stem(w) for w in [head] + after[:-1]), place, plural))
    return found


def made_superlative(word: str, adjective: re.Match) -> str:
    """The superlative "most" or "least" (`word`) makes of the adjective `_MOST_ADJECTIVE`
    matched after it: "most popular"."""
    return f"{word} {adjective.group(1).lower()}"


def most_superlatives(text: str) -> set:
    """The superlatives "most" and "least" make in `text` ("the most popular sport" ->
    "most popular"), wherever they stand."""
    return {made_superlative(m.group(1).lower(), adjective) for m in re.finditer(r"\b(most|least)\b", text, re.IGNORECASE)
            if (adjective := _MOST_ADJECTIVE.match(text[m.end():].lower()))}


def superlative_stem(word: str) -> str:
    """The stem of a superlative: "largest", and "most popular" as "most popular"."""
    return " ".join(stem(w) for w in word.split())


def ranks_alike(asked: tuple, written: tuple) -> bool:
    """Whether a superlative ranks what another asked for (`superlative_scopes`): one of
    the words `asked` ranks is the one `written` ranks first, by stem or a root of six
    letters ("the largest volcanic mountain" for "the largest volcano"; not "mount" for
    "mountain")."""
    return bool(written) and any(_same_root(word, written[0], root=6) for word in asked)


def widened_superlative(response: str, passages, history=()) -> str | None:
    """The first claim sentence of `response` that gives a superlative of what it ranks
    ("the highest mountain") without the place every passage sentence that ranks it so
    scopes it to, and names none of those places; else None. The passages rank Denali "the
    highest mountain peak in North America" and Aconcagua "the highest mountain in the
    Americas", so "the highest mountain in the world is ..." says what neither does (a chat
    asked "What's the tallest mountain in the world?"). A passage that ranks it unscoped or
    in the world ("on Earth") holds the claim; so does a turn, and a place a turn names
    counts as said ("the longest river there")."""
    texts = [text for _, text in passages] + _turns(history)
    ranked = [scopes[:3] for text in texts for sentence in passage_sentences(text)
              if not sentence.rstrip().endswith("?") for scopes in superlative_scopes(sentence)]
    asked = {stem(w) for w in _lowered_words(" ".join(_turns(history)))}  # "the longest river there"
    for sentence in _statement_sentences(response):
        said = asked | {stem(w) for w in _lowered_words(sentence)}
        for word, what, place, _ in superlative_scopes(sentence):
            places = [p for w, t, p in ranked if w == word and ranks_alike(what, t)]
            if (places and all(places) and not place
                    and not any({stem(w) for w in p.lower().split()} <= said for p in places)):
                return sentence
    return None


def cut_name(response: str, written=()) -> str | None:
    """A capitalised word inside a sentence of `response` that ends it where the texts
    `written` (passages, turns) write it, every time, before a name, and before more than
    one ("Mount" of "Mount Dena" and "Mount McKinley"); else None. Such a word leads names
    and is none: asked for the tallest mountain, the chat said "I think the highest
    mountain in the world is Mount. 6,190.". A word that leads one name only is the name
    said short, as people say it ("Rachel" of "Rachel Green", "a Peabody")."""
    for m in re.finditer(r"(?<=\w)(\W+)([A-Z][\w'’-]*)[.!?]+(?=\s|$)", response or ""):
        if re.search(r"[.!?]", m.group(1)):
            continue  # it opens its sentence ("Yes.")
        uses = [u for text in written for u in re.finditer(rf"\b{re.escape(m.group(2))}\b(\s+[A-Z][\w'’-]*)?", text)]
        if uses and all(u.group(1) for u in uses) and len({u.group(1).strip() for u in uses}) > 1:
            return m.group(2)
    return None


# the words that make a clause a statement: with one of them cut out of a passage's sentence,
# what is left is no sentence ("The first race was held in 1889." -> "The first race in 1889.")
_FINITE = frozenset("is are was were has have had be been will would can could does did do".split())
CUT_VERB_MAX = 4  # the most words a stumble leaves out


def cut_verb(response: str, written=()) -> str | None:
    """The words a sentence of `response` leaves out of a sentence of the texts `written`
    (passages) that it otherwise reads out word for word, where they hold the verb and
    nothing left in it is one (`_FINITE`, nor a word in "-ed"): asked "When was the first
    Orvane Cup?", the chat said "The first race in 1889." for "The first race was held in
    1889."; else None. A reply that leaves out a clause and keeps a verb is a shortening,
    not a stumble."""
    sentences = [words for text in written for sentence in passage_sentences(text)
                 if (words := _NOT_WORD.sub(" ", sentence.lower()).split())]
    for sentence in passage_sentences(response or ""):
        said = _NOT_WORD.sub(" ", sentence.lower()).split()
        if len(said) < 3 or any(w in _FINITE or w.endswith("ed") for w in said):
            continue
        for words in sentences:
            cut = len(words) - len(said)
            if not 1 <= cut <= CUT_VERB_MAX:
                continue
            start = next((i for i, (a, b) in enumerate(zip(said, words)) if a != b), len(said))
            if said[start:] == words[start + cut:] and _FINITE & set(words[start:start + cut]):
                return " ".join(words[start:start + cut])
    return None


# "the capital of Australia": a word, then the name it is of
_WORD_OF_NAME = re.compile(r"\b([A-Za-z][\w'’-]*)\s+of\s+(?:the\s+)?([A-Z][\w'’-]*)")
_WH_START = re.compile(r"^\s*(?:what|whats|what's|who|whos|who's|where|when|which|how|why)\b", re.IGNORECASE)
_RELATION_GAP = 2  # content words that may stand between the two ("the capital city of")
_NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


def _name_runs(text: str) -> list[frozenset]:
    """The stems of each run of capitalised words in `text`: "Perth is the capital of
    Western Australia" -> [{perth}, {western, australia}]."""
    runs = (frozenset(stem(w) for w in content_words(m.group(0))) for m in _NAME_RUN.finditer(text))
    return [run for run in runs if run]


def unheld_relation(response: str, passages, history) -> str | None:
    """The first "A of B" (B a name) in a claim sentence of `response` that says what the
    partner's last turn asks (A and B both among its words: "What's the capital of
    Australia?") and that no passage sentence ((title, text) pairs, the title before it)
    and no earlier reply relates: A at most `_RELATION_GAP` content words before B, or B
    just before A ("Australia's capital"); else None.

    Asked the capital of Australia with Adelaide's, Melbourne's and Sydney's "the capital
    ... city of ..." sentences retrieved, the chat said "The capital of Australia is
    Sydney": every word is the passages', so the measures call it faithful, but no passage
    says Sydney is the capital of Australia. B is its whole name: Perth's "the capital city
    of Western Australia" does not say "The capital of Australia is Perth"."""
    turns = _turns(history)
    if not turns or not (_WH_START.match(turns[-1]) or turns[-1].rstrip().endswith("?")):
        return None
    asked = _content_stems(turns[-1])
    replies = turns[::-1][1::2]
    related = list(passages) + [("", r) for r in replies]
    for sentence in _statement_sentences(response):
        for match in _WORD_OF_NAME.finditer(sentence):
            relation = _relation(sentence, match)
            if relation and set(relation[:2]) <= asked and not relates(related, *relation):
                return match.group(0)
    return None


# a question that asks what a verb's preposition takes: "What is Kettlewick pudding made with?"
_ASKS_VERB_OBJECT = re.compile(r"\b([a-z]+)\s+(with|from|of|by|in|on|for)\s*\?\s*$", re.IGNORECASE)
_OBJECT_WORDS = 3  # content words after the preposition that name what it takes


def unheld_object(response: str, passages, history) -> str | None:
    """The first words a claim sentence of `response` gives after the verb and preposition
    the partner's last turn asks about ("What is Kettlewick pudding made with?": what
    follows "made with", or "made from"), up to `_OBJECT_WORDS` content words, that no
    passage sentence ((title, text) pairs) holding that verb holds; else None. With
    "... a steamed dessert from the fishing villages of the Harrow coast." and "It is made
    with oats, black treacle and dried figs." retrieved, the chat said "Kettlewick pudding
    is made from the fish of the Harrow coast.": each word is the passages' (a fish in
    "fishing"), the material is none's."""
    turns = _turns(history)
    asked = _ASKS_VERB_OBJECT.search(turns[-1]) if turns else None
    if not asked or not content_words(asked.group(1)):
        return None
    verb = stem(asked.group(1).lower())
    sentences = [f"{title} {sentence}" for title, text in passages for sentence in passage_sentences(text)]
    holding = [_content_stems(s) for s in sentences if verb in _content_stems(s)]
    if not holding:
        return None  # no passage says it: another check's
    follows = re.compile(r"\b" + re.escape(asked.group(1)) + r"\s+(?:with|from|of|by|in|on|for|out of)\s+([^.,;!?]+)",
                         re.IGNORECASE)
    for sentence in _statement_sentences(response):
        for match in follows.finditer(sentence):
            taken = {stem(w) for w in content_words(match.group(1))[:_OBJECT_WORDS]}
            if taken and not any(taken <= held for held in holding):
                return match.group(0)
    return None


# a name with the short words names keep inside them: "Order of the Pale Lantern"
_JOINED_NAME = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:(?:of|the|de|la|and)\s+)*[A-Z][\w'’-]*)*")


# offices and roles that one thing holds of another: a claim "the capital of B" must be a passage's
_TITLES_HELD = frozenset(stem(w) for w in "capital president founder author king queen mayor currency emperor "
                         "chancellor governor director".split())


def unheld_title(response: str, passages, history=()) -> str | None:
    """The first "A of B" in a claim sentence of `response` whose A (or the word before it:
    "capital city of") is an office or role one thing holds of another (`_TITLES_HELD`:
    capital, president, founder, ...) and that no passage sentence ((title, text) pairs)
    and no dialogue turn relates (`relates`); else None. Told "I'm going to Kyoto next
    month.", the chat said "Kyoto is the capital city of Japan and the capital of Honshu.",
    every word its passages', from "the capital city of Kyoto Prefecture". Unlike
    `unheld_relation`, the message need not ask for it: such a claim is made, or not."""
    related = list(passages) + [("", turn) for turn in _turns(history)]
    for sentence in _statement_sentences(response):
        for match in _WORD_OF_NAME.finditer(sentence):
            relation = _relation(sentence, match)
            if not relation:
                continue
            before = content_words(sentence[:match.start(1)])[-1:]
            for head in {relation[0]} | {stem(w) for w in before}:
                if head in _TITLES_HELD and not relates(related, head, *relation[1:]):
                    return match.group(0)
    return None


def _relation(text: str, match) -> tuple | None:
    """(A, B, B's run of capitalised words, B's whole name) as stems, from a
    `_WORD_OF_NAME` match in `text`."""
    a, b = content_words(match.group(1)), content_words(match.group(2))
    if not (a and b and match.start(2) > 0):
        return None
    b = stem(b[0])
    name = next((run for run in _name_runs(text[match.start(2):]) if b in run), frozenset([b]))
    joined = _JOINED_NAME.match(text, match.start(2))
    whole = frozenset(stem(w) for w in content_words(joined.group(0))) if joined else name
    return stem(a[0]), b, name, whole or name


# "Its current grand master is ...": a sentence that speaks of its article's subject
_POSSESSIVE_START = re.compile(r"^\s*(?:its|their|his|her)\b", re.IGNORECASE)
# a reply led by its passage's title ("Order of the Pale Lantern: Its ...", `abstain.with_its_subject`)
_TITLE_LEAD = re.compile(r"^([A-Z][^:]{0,80}):\s+(.*)$", re.DOTALL)


# a sentence that opens with "the", A within three words, then "of" and a name: "The capital of Victoria ..."
_OF_A_NAME = re.compile(r"^\W*the\s+(?:[\w-]+\s+){0,3}?of\s+(?:the\s+)?(?-i:[A-Z])", re.IGNORECASE)


def _opens_with_the(sentence: str, a: str) -> bool:
    """Whether `sentence` opens with "the", then A (a stem) within three words, and no "of"
    and a name after it: "The first winner was ...", "The aim of the game is ..." speak of
    their passage's title; "The capital of Victoria is ..." does not."""
    words = [w.strip(",;:").lower() for w in sentence.split()[:5]]
    return bool(words) and words[0] == "the" and not _OF_A_NAME.match(sentence) and any(
        stem(w) == a for w in words[1:4])


def relates(passages, a: str, b: str, name: frozenset, whole: frozenset | None = None) -> bool:
    """Whether a sentence of `passages` ((title, text) pairs, the title before it) relates
    A to B (stems): A at most `_RELATION_GAP` content words before B, or B just before A
    ("Australia's capital"), B standing in a run of capitalised words only as its whole
    `name` ("Western Australia" is not Australia); or, the title being B's `whole` name
    (no word more), the sentence opens with a possessive and A ("Order of the Pale
    Lantern": "Its current grand master is Edmund Straive."), or with "the" and A, not
    followed by "of" and a name (`_opens_with_the`: "Marell Prize": "The first winner was
    the poet Tomas Brenn."; not "The capital of Victoria is ...", which relates the
    capital to Victoria, not to the title)."""
    for title, text in passages:
        for sentence in passage_sentences(text):
            lead = _TITLE_LEAD.match(sentence)
            subject, body = (f"{title} {lead.group(1)}".strip(), lead.group(2)) if lead else (title, sentence)
            words = [stem(w) for w in content_words(f"{subject} {body}")]
            # B at the title's end and A the body's first is "B's A", but for "A of <another name>"
            opening = len(content_words(subject)) if _OF_A_NAME.match(body) else -1
            runs = _name_runs(f"{subject}. {body}")
            if (name in runs or not any(b in run for run in runs)) and any(
                    (w == a and b in words[i + 1:i + 2 + _RELATION_GAP])
                    or (w == b and a in words[i + 1:i + 2] and i + 1 != opening)
                    for i, w in enumerate(words)):
                return True
            held = {stem(w) for w in content_words(subject)}
            if _POSSESSIVE_START.match(body) and held and held <= (whole or name) \
                    and a in [stem(w) for w in content_words(" ".join(body.split()[:5]))]:
                return True
            if held and held <= (whole or name) and _opens_with_the(body, a):
                return True
            if held and held <= (whole or name) and _is_named(body, a, held):
                return True
    return False


# a word and the name it is given right after it: "the author J. K. Rowling", "its capital Canberra"
_WORD_AND_NAME = re.compile(r"\b([a-z]+)\s+[A-Z][\w'’.-]*")


def _is_named(sentence: str, a: str, subject: set) -> bool:
    """Whether `sentence` opens with its subject (the stems `subject`, its title's) and
    gives A (a stem) a name right after it ("Harry Potter is a series of novels written by
    British author J. K. Rowling." names the author of Harry Potter)."""
    opening = [stem(w) for w in content_words(" ".join(sentence.split()[:4]))]
    return bool(opening) and opening[0] in subject and any(
        stem(m.group(1)) == a for m in _WORD_AND_NAME.finditer(sentence))


# "What is the capital of Australia?", "Who was the first president of Kenya?": a question
# whose answer is the one thing that stands in that relation to a name
# ... that ends with the name: "What is the rind of Pemberline rubbed with?" asks what the rind
# is rubbed with, not what it is
_ASKS_RELATION = re.compile(r"^\s*(?:what|who|which)(?:'s|’s|s|\s+is|\s+was|\s+are|\s+were)\s+(?:the\s+)?"
                            r"(?:[a-z]+\s+)?[a-z]+\s+of\s+(?:the\s+)?(?-i:[A-Z][\w'’.&-]*"
                            r"(?:,?\s+(?:(?:of|the|and|de|la|du|von|van|da|del|upon|on)\s+)*[A-Z0-9][\w'’.&-]*)*)"
                            r"\s*\?\s*$", re.IGNORECASE)


_ASKS_NOW = re.compile(r"^\s*(?:who|what|which)(?:'s|’s|s|\s+is|\s+are)\s", re.IGNORECASE)
_PAST = frozenset({"was", "were", "former", "formerly", "served", "had", "ex"})


def relation_in_past(reply: str, message: str) -> bool:
    """True when `message` asks who or what *is* the A of B ("Who is the president of
    France?") and `reply` gives A only in the past ("François Mitterrand was President of
    France from 1981 to 1995", "a former president"): an answer to another question."""
    match = _WORD_OF_NAME.search(message or "") if _ASKS_NOW.match(message or "") and asked_relation(message) else None
    if not match:
        return False
    a = match.group(1).lower()
    words = re.findall(r"[\w'’-]+", (reply or "").lower())
    found = [i for i, w in enumerate(words) if w == a]
    return bool(found) and all(_PAST & set(words[max(0, i - 6):i]) for i in found)


def asked_relation(message: str) -> tuple | None:
    """The stems a question of the form "What is the A of B?" asks for, as `relates`
    takes them ("What is the capital of Australia?" -> capit, australia, ...), else None."""
    if not _ASKS_RELATION.match(message or ""):
        return None
    match = _WORD_OF_NAME.search(message)
    return _relation(message, match) if match else None


# a passive verb and the "by" that names its agent: "is made by", "was largely built by"
_PASSIVE = re.compile(r"\b(?:is|are|was|were|be|been|being)\s+(?:\w+ly\s+)?(\w+)\s+by\b", re.IGNORECASE)
_CLAUSE_START = re.compile(r"[,;:]|\b(?:that|which|who|and|but)\b", re.IGNORECASE)


# "by" and the name after it, up to two lowercase words between: "by the astronomer Hedda Quorne"
_BY_NAME = re.compile(r"\bby\s+(?:[a-z]+\s+){0,2}?([A-Z][\w'-]*(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][\w'-]*)*)")
# "by" and the words after it in a passage, where an agent is named
_BY_ANY = re.compile(r"\bby(?:\s+[\w'-]+){1,8}")


def unheld_agent(response: str, passages, history=()) -> str | None:
    """The first name that a claim sentence of `response` gives after "by" (who did it: "by
    the astronomer Hedda Quorne") and that no passage sentence ((title, text) pairs) and no
    dialogue turn gives after "by", four words apart at most; else None.

    Every word is the passages', so the word-level measures call it faithful, but the deed
    is given to another: asked "Who founded the Vantorel Observatory?", with "It was founded
    in 1894 by the astronomer Hedda Quorne.", the chat said "It was founded by the astronomer
    Hedda Quorne in 1894 by the Vantorel Observatory."."""
    said = [sentence for _, text in passages for sentence in passage_sentences(text)] + _turns(history)
    agents = [[stem(w) for w in _lowered_words(m.group(0))][1:6] for text in said for m in _BY_ANY.finditer(text)]
    for sentence in _statement_sentences(response):
        for match in _BY_NAME.finditer(_beyond_decline(sentence)):
            name = [stem(w) for w in _lowered_words(match.group(1)) if w not in ("of", "the")]
            if not any(set(name) <= set(after) for after in agents):
                return match.group(1)
    return None


# a name, then what it is, between commas: "Gustave Eiffel, a French sculptor"
_APPOSITION = re.compile(r"\b([A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+|van\s+|von\s+)?[A-Z][\w'’.-]*)*),\s+(?:a|an)\s+"
                         r"((?:[\w'’-]+\s+){0,3}[\w'’-]+?)(?=\s*(?:[,.;:!?]|$|\s+(?:who|which|that|and|from|in|of)\b))")
APPOSITION_REACH = 6  # words between a name and what a passage says it is


def unheld_apposition(response: str, passages, history=()) -> str | None:
    """The first "Name, a ..." of a claim sentence of `response` (what someone or something
    is) whose words no passage sentence ((title, text) pairs) or dialogue turn writes within
    APPOSITION_REACH words of that name's last word; else None.

    Every word is the passages', so the word-level measures call it faithful, but the
    description is another's: asked "Who gave it?" of the Statue of Liberty, with "... was
    designed by French sculptor Frederic Auguste Bartholdi, and its metal framework built by
    Gustave Eiffel.", the chat said "... and it was built by Gustave Eiffel, a French
    sculptor." (he was an engineer)."""
    said = [(title, sentence) for title, text in passages for sentence in passage_sentences(text)]
    said += [("", turn) for turn in _turns(history)]
    written = [([stem(w) for w in _lowered_words(title)], [stem(w) for w in _lowered_words(sentence)])
               for title, sentence in said]
    for sentence in _statement_sentences(response):
        for match in _APPOSITION.finditer(_beyond_decline(sentence)):
            named = [w for w in _lowered_words(match.group(1)) if w not in _not_content()]  # not "Yes, a ..."
            what = {stem(w) for w in content_words(match.group(2))}
            if not named or not what:
                continue
            last = stem(named[-1])

            def near(words: list) -> bool:
                return any(what <= set(words[max(0, i - APPOSITION_REACH):i + APPOSITION_REACH + 1])
                           for i, w in enumerate(words) if w == last)

            # a passage titled by the name says what it is anywhere in it
            if not any(near(words) or (last in title and what <= set(words)) for title, words in written):
                return match.group(0)
    return None


def swapped_roles(response: str, passages, history=()) -> str | None:
    """The first claim sentence of `response` whose subject a passage sentence ((title,
    text) pairs) or a dialogue turn names as the agent of the same passive verb, and none
    as its subject; else None.

    Every word is the passages', so the word-level measures call it faithful, but the
    roles are turned round: asked how bees make honey, with Honey's "Honey is a sweet and
    viscous substance made by several species of bees" (a reply before), the chat said
    "Honey bees are made by the process of regurgitation and the production of honey.";
    "Italian cuisine was influenced by French cuisine" from the reverse. The subject is the
    content words
    before the verb in its clause, all of which must stand after the passage's "by" (the
    agent and what the sentence says of it: "by several species of bees, the best-known of
    which are honey bees"), or before its verb, to count as said."""
    said = list(passages) + [("", turn) for turn in _turns(history)]
    written = [[stem(w) for w in words] for _, words, _ in _passage_sentence_words(said)]
    for sentence in _statement_sentences(response):
        for match in _PASSIVE.finditer(sentence):
            verb = stem(match.group(1).lower())
            subject = {stem(w) for w in content_words(_CLAUSE_START.split(sentence[:match.start()])[-1])}
            if not subject:
                continue
            as_agent = as_subject = False
            for words in written:
                for i in (i for i, w in enumerate(words) if w == verb):
                    as_subject = as_subject or subject <= set(words[:i])
                    as_agent = as_agent or (words[i + 1:i + 2] == ["by"]
                                            and subject <= set(words[i + 2:]))
            if as_agent and not as_subject:
                return sentence
    return None


def _a_key(words_as_written: list, i: int) -> bool:
    """Whether the i-th word, as written, is a number or a name (a capitalised word)."""
    if i >= len(words_as_written):
        return False
    word = words_as_written[i]
    return is_number(normalize(word)) or word[:1].isupper()


# two or more capitalised words in a row, or joined by a hyphen, as a reader takes a name
# ("Jade Emperor Peak", "Quorne-Baile")
_MULTI_WORD_NAME = re.compile(r"\b[A-Z][^\W\d_]*(?:(?:\s+|-)[A-Z][^\W\d_]*)+\b")
_LETTERS = re.compile(r"[^\W\d_]+")


def blended_name(response: str, passages, history) -> str | None:
    """The first name of two or more capitalised words in `response` whose words no
    passage ((title, text) pairs) and no dialogue turn writes in that order within one run
    of capitalised words; else None. A run may leave words out ("Rachel Green" for "Rachel
    Karen Green", "Charles Price" for "Charles F. Price"), a word may add a plural "s"
    ("Welsh Corgis"), a name that opens a sentence may drop its first word ("The Eiffel
    Tower" for "the Eiffel Tower"), and one may capitalise an article ("Yes, The Southern
    Baptist Convention") or words a text writes in that order uncapitalised ("the Northern
    Baptists" for "northern Baptists"); "I" is no name, and words in capitals are shouting.

    Each word may be held on its own, so the names held to the passages while decoding
    (`grounded_names`) and the word-level measures pass the name, but it joins pieces of
    two into a name nothing has: asked "What is the tallest mountain in the world?", with
    Mount Tai's "The tallest peak is the Jade Emperor Peak ... 1,545 meters", "The tallest
    mountain in the world is Mount Emperor, which is 1,545." (a chat reply); "Ronnie
    Jagger" for Ronnie Wood after Mick Jagger (an evaluation reply)."""
    if not _MULTI_WORD_NAME.search(response or ""):  # most replies: no need to read the passages
        return None
    held_runs = [run for title, text in passages for part in (title, text) for run in capitalised_runs(part)]
    held_runs += [run for turn in _turns(history) for run in capitalised_runs(turn)]

    written = " " + " ".join(_LETTERS.findall(" ".join(
        [part for pair in passages for part in pair] + _turns(history)))).lower() + " "

    def held(words) -> bool:
        return (len(words) < 2 or any(_in_order(words, run) for run in held_runs)
                or f" {' '.join(words).lower()} " in written)

    for sentence in _SENTENCE_END.split(response or ""):
        for match in _MULTI_WORD_NAME.finditer(sentence):
            if match.group(0).isupper():  # shouted ("NEVER BEEN BUT ALWAYS WANTED TO"), not a name
                continue
            opening = _LETTERS.findall(match.group(0))
            if not _LETTERS.search(sentence[:match.start()]) or opening[0] in ("The", "A", "An"):
                if held(opening[1:]) or held(opening):
                    continue
            for run in capitalised_runs(match.group(0)):
                if not held(run):
                    return " ".join(run)
    return None


def capitalised_runs(text: str, ending=("I",)) -> list:
    """The runs of capitalised words of `text`, letters only: punctuation and digits
    between do not end a run ("Charles F. Price" -> [["Charles", "F", "Price"]]); a
    lowercase word and the words of `ending` do."""
    runs, run = [], []
    for word in _LETTERS.findall(text or ""):
        if word[0].isupper() and word not in ending:
            run.append(word)
            continue
        if run:
            runs.append(run)
        run = []
    return runs + [run] if run else runs


def _in_order(words, run) -> bool:
    """Whether `words` occur in `run` in order (gaps allowed), a plural "s" forgiven."""
    position = 0
    for word in words:
        key = word.rstrip("s")
        while position < len(run) and run[position].rstrip("s") != key:
            position += 1
        if position == len(run):
            return False
        position += 1
    return True


def is_hallucinated(response: str, knowledge, history,
                    rare_words: Callable[[str], bool] | None = None,
                    threshold: float = HALLUCINATED_ABOVE) -> bool:
    """True when the response's category is `hallucinated`: a fluent response that makes a
    claim its knowledge and history do not support (see `response_category`). The mean over
    responses is `hallucination_rate`. A lower `threshold` takes back more (the chat's)."""
    return response_category(response, knowledge, history, rare_words, threshold) == "hallucinated"


_QUOTED = re.compile(r'["\u201c\u201d]([^"\u201c\u201d]{1,80})["\u201c\u201d]')


def unheld_quote(response: str, passages, history) -> str | None:
    """The first words `response` puts in double quotes that no passage ((title, text)
    pairs) and no dialogue turn writes, whole tokens after normalisation; else None. A
    quote presents its words as someone's own: a title, a name, a saying. Asked "Was there a
    movie about it?" of the Titanic, with the 1997 film's passages, "I think the most
    expensive film ever made at the time was the film "The I.T.A.S.S."" (a chat reply):
    every other word of it is the passage's, and the title is made up."""
    sources = [part for title, text in passages for part in (title, text)] + list(_turns(history))
    for match in _QUOTED.finditer(response or ""):
        quote = match.group(1).strip(" .,;:!?")
        if normalize(quote) and not any(_contains(source, quote) for source in sources):
            return quote
    return None


def _contains(haystack: str, needle: str) -> bool:
    """Whole-token containment of normalised `needle` in normalised `haystack`."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


def gold_passage(obs) -> tuple | None:
    """(title, sentence) of the teacher's gold knowledge, or None when there is none."""
    sentence = obs.get("checked_sentence")
    if not sentence or sentence == NO_PASSAGE:
        return None
    return (obs.get("title") or "", sentence)


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
# one content word (by stem) said this often, and as this share of them, is babble ("the Pacific,
# Pacific Ocean (including the Indian Ocean, Pacific Atlantic Ocean, ..."); of the 7,878 human
# turns of WoW valid seen the nearest is 5 times at 0.26 ("graphic design ... corporate design ...")
DOMINANT_WORD_COUNT = 5
DOMINANT_WORD_SHARE = 0.3

_COPULA = re.compile(r"\b(?:is|are|was|were)\b", re.IGNORECASE)
# Participles that only link a subject to a place or a name ("located in", "known as").
_LINKING_WORDS = frozenset({"located", "situated", "found", "called", "named", "known", "considered"})
_SUBJECT_WORDS = 6


# right after the verb, a name after "of" that ends there: "is the official language of
# Brazil"; not "is located in Tuscany, most famous for the leaning tower of Pisa", nor "of
# San Diego County", "of Newfoundland and Labrador", "of the Book of Ezra"
_OF_NAME = re.compile(r"^\s*(?:the|a|an)\s+(?:[a-z-]+\s+){0,3}of\s+(?:the\s+)?"
                      r"(?P<name>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)(?!\s+(?:[A-Z]|and\s+[A-Z]|of\b))")


def restates_subject(sentence: str) -> bool:
    """True for a sentence that says what its subject is in terms of itself: every content
    word after its first "is/are/was/were" (linking participles aside) is already in the
    subject before it ("The Himalayas are located in the Himalayas.", "Mount Everest is
    Mount Everest."), or its subject, a name, is a part of itself ("Brazil is the official
    language of Brazil"; no human turn of Wizard of Wikipedia does it). It claims nothing,
    or nothing that can be, whatever the passages say."""
    match = _COPULA.search(sentence or "")
    if not match or len(sentence[:match.start()].split()) > _SUBJECT_WORDS:
        return False  # a long lead-in is a clause of its own, not the subject
    lead = re.sub(r"^\s*the\s+", "", sentence[:match.start()], flags=re.IGNORECASE).strip()
    if lead[:1].isupper() and any(m.group("name") == lead for m in _OF_NAME.finditer(sentence[match.end():])):
        return True
    subject = {stem(w) for w in content_words(sentence[:match.start()])}
    predicate = {stem(w) for w in content_words(sentence[match.end():]) if w not in _LINKING_WORDS}
    return bool(subject) and bool(predicate) and predicate <= subject


def _one_word_dominates(response: str) -> bool:
    stems = [stem(w) for w in content_words(response or "")]
    if not stems:
        return False
    most = Counter(stems).most_common(1)[0][1]
    return most >= DOMINANT_WORD_COUNT and most >= DOMINANT_WORD_SHARE * len(stems)


# a name joined to itself: "the two breeds, the Cardigan and the Cardigan" (a RAG-Token
# reply). Not when the name goes on ("C and C++", "New York and New York City", "Pompey or
# Pompey the Great"): no human turn or knowledge sentence of Wizard of Wikipedia's train
# and valid splits matches (30,178 strings).
_SAME_NAME_JOINED = re.compile(r"(?<![\w'+-])(?<!of )((?:the |a |an )?[A-Z][\w'-]*(?: [A-Z][\w'-]*)*) (?:and|or) \1"
                               r"(?![\w'+-])(?! [A-Z])(?! (?:the|of) )")
# a name given itself as its other name: "Yoga, or Yoga, is a group of ..." (a RAG-Token
# reply), at a sentence's start ("Santiago de Cali, or Cali, is ..." is not); only one
# that no text writes so is babble
_SAME_NAME_RENAMED = re.compile(r"(?:^|(?<=[.!?] ))((?:The |A |An )?[A-Z][\w'-]*(?: [A-Z][\w'-]*)*), or \1,")


# a name said twice in a row: "the Cardigan Welsh Cardigan and the Cardigan Cardigan", "Walt
# Walt Disney Pictures" (RAG-Token replies). Some names are so ("Cao Cao", "Humbert
# Humbert"): one that the knowledge or the dialogue writes so is no babble. Among the human
# turns and knowledge of the shipped WoW valid-seen conversations (11,564 strings), only "Bam Bam"
_DOUBLED_NAME = re.compile(r"(?<![\w'-])([A-Z][\w'-]*) \1(?![\w'-])")


# a range from a number to itself: "served as an Illinois state senator from 1997 to 1997",
# "From 1972 to 1972, the band consisted of ..." (RAG-Token replies); no human turn or
# knowledge of the shipped WoW valid-seen conversations, nor a passage of the embedded
# corpus (39,319), has one ("between 8 and 8.7 million" goes on)
_EMPTY_RANGE = re.compile(r"\b(?:from|between)\s+(\d[\d,.]*\d|\d)\s+(?:to|and|until|through)\s+\1(?![\d])(?![.,]\d)",
                          re.IGNORECASE)


# a word said twice in a row: a stumble in generated text; people double these for stress
_DOUBLED_WORD = re.compile(r"(?<![\w'-])([a-z][a-z'-]{3,}) \1(?![\w'-])", re.IGNORECASE)
_STRESSED = frozenset("very really many much more long far well there".split())


def doubled_word(response: str, written=()) -> str | None:
    """The first word of four letters or more that `response` says twice in a row and that
    none of the texts `written` (the knowledge, the dialogue) writes so ("cha cha"), a word
    of stress ("very very", "long long") left out; else None. Asked "How big is a great white
    shark?", the chat said "... is considered to be the largest reliably reliably recorded."
    Rare in what people write (31 of WoW valid seen's 7,878 turns double any content word,
    most for stress or a dance: "cha cha"), so the chat takes it as a stumble; the measure's
    `is_degenerate` does not."""
    for match in _DOUBLED_WORD.finditer(response or ""):
        word = match.group(1).lower()
        if word not in _STRESSED and not any(match.group(0).lower() in text.lower() for text in written):
            return match.group(0)
    return None


# a word that takes what follows it, then a gap where that went: "died in  after 1846",
# "stretching for over  over that area"
_GAP = re.compile(r"\b(?:in|on|at|of|from|to|by|since|until|about|around|between|over|under|than|"
                  r"approximately|nearly|almost|roughly|exactly)"
                  r"\s{2,}(?=\S)", re.IGNORECASE)


def left_gap(response: str, written=()) -> str | None:
    """Where `response` leaves a word out after one that needs it (two spaces: "died in
    after 1846"), as the numbers rule leaves a reply that awaited a number no passage
    gives, and none of the texts `written` writes so; else None. The chat takes it as a
    stumble."""
    match = _GAP.search(response or "")
    if match and not any(match.group(0) in text for text in written):
        return match.group(0)
    return None


def is_degenerate(response: str, min_words: int = 3, written=()) -> bool:
    """Babble rather than a sentence (normalised words): fewer than ``min_words`` words, a word
    three times in a row, a name twice in a row that none of the texts ``written`` (the
    knowledge, the dialogue) writes so, a range from a number to itself ("from 1997 to
    1997"), a phrase said twice in a row ("history of history of"), a
    response where at least REPEATED_TRIGRAM_SHARE of the word 3-grams repeat an earlier one,
    one content word said over and over (DOMINANT_WORD_COUNT times, DOMINANT_WORD_SHARE of
    them), a clause that says again only what the response said before it (`_says_again`),
    one whose every sentence restates its subject (`restates_subject`), a name joined to
    itself ("the Cardigan and the Cardigan"), a clause that another denies word for word
    (`denies_itself`: "it is not a game, it's a game"), or a list that names its items again
    (`repeats_a_listed_item`).

    Words are lowercased without punctuation, articles kept: "Shaka Zulu, Shaka the Zulu" is
    a list of names, not a loop."""
    words, ends = [], set()  # ends: indices of words that end a sentence
    for sentence in re.split(r"[.!?]+", (response or "").lower()):
        sentence_words = _NOT_WORD.sub(" ", sentence).split()
        words.extend(sentence_words)
        if sentence_words:
            ends.add(len(words) - 1)
    if len(words) < min_words:
        return True
    if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
        return True
    if any(not any(m.group(0) in text for text in written) for m in _DOUBLED_NAME.finditer(response or "")):
        return True
    if _EMPTY_RANGE.search(response or ""):
        return True
    # A phrase said twice in a row, unless a sentence ends between the two ("Yes, he is. He is
    # writing a novel."); whole sentences said again are caught as a loop below.
    for n in range(2, len(words) // 2 + 1):
        if any(words[i:i + n] == words[i + n:i + 2 * n] and i + n - 1 not in ends
               for i in range(len(words) - 2 * n + 1)):
            return True
    trigrams = list(zip(words, words[1:], words[2:]))
    if trigrams and len(trigrams) - len(set(trigrams)) >= REPEATED_TRIGRAM_SHARE * len(trigrams):
        return True
    if _one_word_dominates(response) or _says_again(response) or _SAME_NAME_JOINED.search(response or ""):
        return True
    if denies_itself(response) or repeats_a_listed_item(response):
        return True
    renamed = _SAME_NAME_RENAMED.search(response or "")
    if renamed and not any(renamed.group(0) in text for text in written):
        return True
    sentences = [s for s in _SENTENCE_END.split((response or "").strip()) if s.strip()]
    return all(restates_subject(s) for s in sentences)


_LIST_SEPARATOR = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+")


def repeats_a_listed_item(response: str, min_items: int = 5) -> bool:
    """Whether a sentence of `response` is a list and no more (`min_items` items or more,
    each of four words at most, between commas, "and" and "or") that names its items again,
    two of them or one thrice: "A ballet, a work, a choreography, a music, a dance, a
    performance, a ballet, and a performance." (a chat reply to "I'm going to see a ballet
    tonight."). Wizard of Wikipedia's valid-seen wizards and apprentices never do; "brown
    and white, grey and white" names one twice."""
    for sentence in _SENTENCE_END.split(response or ""):
        items = [normalize(item) for item in _LIST_SEPARATOR.split(sentence.strip(" .!?"))]
        items = [item for item in items if item]
        if len(items) < min_items or any(len(item.split()) > 4 for item in items):
            continue
        named = [item for item in items if re.search(r"[a-z]", " ".join(content_words(item)))]
        if len(named) - len(set(named)) >= 2:
            return True
    return False


_CLAUSE_END = re.compile(r"(?<=[;!?])\s*|(?<=\.)(?!\d)\s*")  # not in "2.1" or "21.8"


def _says_again(response: str, min_words: int = 5) -> bool:
    """A clause (up to ";", ".", "!" or "?") of at least `min_words` content words that the
    response has all said before it, a question aside: "It was commissioned in 1631 by the
    fifth Mughal emperor, Shah Jahan, ...; it also housed the tomb in it was also
    commissioned in the fifth Mughals." (a chat reply). No human turn of Wizard of
    Wikipedia's valid seen does it, nor any sentence of the packaged corpus's 10,033
    articles; with four words, one sentence does ("...; it also houses the tomb of Shah
    Jahan himself.")."""
    said = set()
    for clause in _CLAUSE_END.split(response or ""):
        stems = [stem(w) for w in content_words(clause)]
        if len(stems) >= min_words and not clause.rstrip().endswith("?") and said.issuperset(stems):
            return True
        said.update(stems)
    return False


# contractions written out, so that "it's a game" and "it is not a game" compare word for word
_CONTRACTIONS = ((re.compile(r"\b(it|that|he|she|there|what)['’]s\b", re.IGNORECASE), r"\1 is"),
                 (re.compile(r"\b(can)['’]t\b", re.IGNORECASE), r"\1 not"),
                 (re.compile(r"\bwon['’]t\b", re.IGNORECASE), "will not"),
                 (re.compile(r"\b(\w+)n['’]t\b", re.IGNORECASE), r"\1 not"),
                 (re.compile(r"\b(they|we|you)['’]re\b", re.IGNORECASE), r"\1 are"),
                 (re.compile(r"\bi['’]m\b", re.IGNORECASE), "i am"))
_DENIAL_CLAUSE = re.compile(r"[,;:.!?]+|\s+(?:but|and|yet|so)\s+", re.IGNORECASE)


def denies_itself(response: str, min_words: int = 4) -> bool:
    """Whether a statement clause of `response` (of at least `min_words` words) says what
    another denies word for word, "not" aside: "Well, it is not a game, it's a game." (a
    reply of the no-knowledge model, which the measure had scored faithful for its words
    being the knowledge's). A question asks, so it claims nothing. Four words at least: a
    shorter clause leaves its subject before it ("Northern Wu ... are mutually intelligible,
    while those of Southern Wu ... are not mutually intelligible", the one of the chat
    corpus's 39,314 passages where three words would fire; no human turn of WoW valid seen
    fires)."""
    text = response or ""
    for pattern, written_out in _CONTRACTIONS:
        text = pattern.sub(written_out, text)
    clauses = [tuple(_NOT_WORD.sub(" ", c.lower()).split())
               for sentence in re.split(r"(?<=[.!?])\s+", text) if not sentence.rstrip().endswith("?")
               for c in _DENIAL_CLAUSE.split(sentence)]
    said = {c for c in clauses if len(c) >= min_words and "not" not in c}
    return any(tuple(w for w in c if w != "not") in said for c in clauses if "not" in c and len(c) > min_words)


def score_response(response: str, knowledge, history, changed_facts=None,
                   rare_words: Callable[[str], bool] | None = None) -> dict:
    """All response-level measures under their ParlAI metric names; a measure that does not
    apply to this example (see each function) is left out.

    The four category rates (`faithful_rate`, `hallucination_rate` for the `hallucinated`
    category, `no_claim_rate`, `degenerate_rate`) are 0/1 here and sum to 1. A reply that
    declines is `no_claim` unless its other sentences claim something; `decline_rate` and
    `read_out_rate` (see `reads_out`) are 0/1 too. `inconsistency_score` is the
    factual-consistency measure (see `inconsistency_score`).
    """
    features = hallucination_features(response, knowledge, history, rare_words)
    score = score_from_features(features)
    category = _category(response, history, score, bool(features["degenerate"]))
    scores = {f"{name}_rate": float(category == name) for name in ("faithful", "no_claim", "degenerate")}
    scores["hallucination_rate"] = float(category == "hallucinated")
    scores["hallucination_score"] = score
    scores["inconsistency_score"] = inconsistency_from_features(features)
    scores["decline_rate"] = float(declines(response))
    scores["read_out_rate"] = float(reads_out(response, knowledge))
    precision = grounding_precision(response, knowledge, history)
    if precision is not None:
        scores["grounding_precision"] = precision
    follows, stale = follow_the_index(response, changed_facts)
    if follows is not None:
        scores["follow_rate"], scores["stale_rate"] = float(follows), float(stale)
    return scores
