"""Raw material of the embedded dataset: vital-article summaries split into sentences, chit-chat reactions."""

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass

from rag_dialogue.paths import chitchat_file, summaries_file

# Words before a period that do not end a sentence ("Arthur C. Clarke", "St. Louis").
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "lt", "sgt", "capt",
    "mt", "ft", "no", "vs", "etc", "ca", "c", "approx", "inc", "ltd", "co", "corp", "fig",
    "vol", "op", "rev", "gov", "sen", "rep", "pres", "e.g", "i.e", "u.s", "u.k", "a.d", "b.c",
}
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")

# Chit-chat messages made only of these words read as a reaction to any fact
# ("oh wow haha", "thats awesome", "yeah makes sense"); others depend on their context.
_REACTION_WORDS = {
    "oh", "wow", "cool", "nice", "haha", "hahaha", "lol", "really", "interesting", "thats",
    "that's", "that", "is", "so", "very", "awesome", "neat", "great", "amazing", "good",
    "fun", "crazy", "sweet", "yeah", "yes", "ok", "okay", "huh", "whoa", "ah", "makes",
    "sense", "true", "pretty", "super", "fascinating", "wild", "i", "didn't", "know",
    "totally", "exactly", "right", "hmm", "wowww", "woah", "ooh", "omg",
    "dang", "damn", "gosh", "my", "sounds", "cute", "impressive", "a", "lot", "of", "it",
}
_REACTION_CORE = {
    "wow", "cool", "nice", "interesting", "awesome", "neat", "great", "amazing", "crazy",
    "sweet", "true", "fascinating", "wild", "impressive", "sense", "fun", "know", "whoa",
}
_REACTION_CHARS = re.compile(r"^[A-Za-z ,.!']+$")


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    topic: str
    sentences: tuple[str, ...]


def split_sentences(text: str) -> list[str]:
    """Split Wikipedia prose at sentence ends, keeping initials and common abbreviations intact."""
    sentences, start = [], 0
    for m in _BOUNDARY.finditer(text):
        before = text[start:m.start()].split()
        last = before[-1].lower().lstrip("\"'“‘([").rstrip(".") if before else ""
        # "C." (an initial) or "U.S." or "St." do not end a sentence
        if (len(last) == 1 and last.isalpha()) or last in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last):
            continue
        sentences.append(text[start:m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


@functools.lru_cache(maxsize=1)
def load_articles() -> tuple[Article, ...]:
    """All 10,033 vital-article summaries, sorted by title (a stable order to sample from)."""
    data = json.loads(summaries_file().read_text(encoding="utf-8"))
    articles = []
    for entry in data.values():
        text = " ".join(entry.get("extract", "").split())
        if entry.get("title") and text:
            articles.append(Article(
                entry["title"], entry.get("description") or "", entry.get("topic") or "",
                tuple(split_sentences(text)),
            ))
    return tuple(sorted(articles, key=lambda a: a.title))


@functools.lru_cache(maxsize=1)
def lowercase_word_counts() -> Counter:
    """How often each all-lowercase word occurs in the summaries ("film": often, "garbo": never)."""
    return Counter(w for a in load_articles() for s in a.sentences for w in re.findall(r"\b[a-z]+\b", s))


@functools.lru_cache(maxsize=1)
def load_reactions(max_words: int = 5) -> tuple[str, ...]:
    """Short real chit-chat reactions (no digits, no questions), sorted and de-duplicated."""
    data = json.loads(chitchat_file().read_text(encoding="utf-8"))
    found = set()
    for conversation in data.values():
        for turn in conversation.get("messages", []):
            for message in turn:
                text = " ".join(message.get("text", "").split())
                words = [w.strip(",.!") for w in text.lower().split()]
                if (
                    0 < len(words) <= max_words
                    and _REACTION_CHARS.match(text)
                    and all(w in _REACTION_WORDS for w in words)
                    and _REACTION_CORE.intersection(words)
                ):
                    found.add(text)
    return tuple(sorted(found))
