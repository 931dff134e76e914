"""Counterfactual articles: numbers, years, places and names changed consistently across an article.

Used for the index hot-swap test (Lewis et al. 2020, sec. 4.5): a model that copies
facts from its index should state the new values once the index holds these articles.
"""

import random
import re
from dataclasses import dataclass, replace

from rag_dialogue.tasks.vital_articles.corpus import Article

# The kind of a place, read from its description ("Country in Northern Europe"): a place
# is only swapped for another of the same kind, so the sentence stays plausible.
_PLACE_KINDS = (
    "country", "city", "capital", "river", "mountain", "lake", "island", "sea", "ocean",
    "desert", "continent", "state", "region", "province", "peninsula", "volcano",
)
# Nationalities are facts too ("a Swedish actress"); swapped among themselves.
NATIONALITIES = (
    "American", "Argentine", "Australian", "Austrian", "Belgian", "Brazilian", "British",
    "Canadian", "Chinese", "Czech", "Danish", "Dutch", "Egyptian", "English", "Finnish",
    "French", "German", "Greek", "Hungarian", "Indian", "Irish", "Italian", "Japanese",
    "Korean", "Mexican", "Norwegian", "Persian", "Polish", "Portuguese", "Russian",
    "Scottish", "Spanish", "Swedish", "Swiss", "Turkish",
)
_NAME = re.compile(r"^[A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,3}$")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w]|[.,]\d)")
# A value starts and ends at a word boundary, and a number is never part of "3.5" or "1,000".
_BEFORE, _AFTER = r"(?<!\w)(?<!\d[.,])", r"(?!\w|[.,]\d)"
_BC = re.compile(r"^\s*(?:BC|BCE|B\.C\.)\b")
_YEAR_MAX = 2100


@dataclass(frozen=True)
class FactPools:
    """Replacement candidates drawn from the corpus: person names, and places by kind."""
    people: tuple[str, ...]
    places: dict  # kind -> tuple of titles

    @classmethod
    def from_articles(cls, articles) -> "FactPools":
        people, places = [], {}
        # "Park" or "Desert" are titles too, but mostly ordinary words in running text
        lowercase = {w for a in articles for s in a.sentences for w in re.findall(r"\b[a-z]+\b", s)}
        for a in articles:
            if not _NAME.match(a.title) or a.title.lower() in lowercase:
                continue
            if a.topic == "People" and len(a.title.split()) >= 2:
                people.append(a.title)
            elif a.topic == "Geography":
                words = a.description.lower().split()
                kind = next((k for k in _PLACE_KINDS if k in words), "place")
                places.setdefault(kind, []).append(a.title)
        return cls(tuple(people), {k: tuple(v) for k, v in places.items()})

    def kind_of(self) -> dict:
        """name -> ("nationality" | "person", None) or ("place", kind): what to look for in a text."""
        kinds = {t: ("nationality", None) for t in NATIONALITIES}
        kinds.update({t: ("person", None) for t in self.people})
        for kind, titles in self.places.items():
            kinds.update({t: ("place", kind) for t in titles})
        return kinds


def _mentions(text: str, needle: str) -> bool:
    return re.search(_BEFORE + re.escape(needle) + _AFTER, text) is not None


def _new_number(old: str, decimals: str, rng: random.Random) -> str:
    """A different number in the same style: same decimals, thousands commas, round zeros."""
    factor = rng.choice([rng.uniform(1.3, 2.8), rng.uniform(0.35, 0.75)])
    if decimals:
        new = float(old.replace(",", "") + decimals) * factor
        return f"{new:,.{len(decimals) - 1}f}" if "," in old else f"{new:.{len(decimals) - 1}f}"
    value = int(old.replace(",", ""))
    if value <= 12:
        new = rng.choice([v for v in range(2, 13) if v != value])
    else:
        new = round(value * factor)
        zeros = len(str(value)) - len(str(value).rstrip("0"))
        new = max(round(new, -zeros), 10 ** zeros)  # 300 -> 700, not 713
    return f"{new:,}" if "," in old else str(new)


def find_changes(article: Article, pools: FactPools, rng: random.Random, kinds=None,
                 tries: int = 20) -> list[tuple[str, str]]:
    """The (old, new) replacements for one article: every year shifted by one offset,
    other numbers rescaled, person and place names (other vital-article titles) swapped.

    Nothing in the article's own title changes (the conversation stays about it), and no
    new value already occurs in the article, so "states the old/new value" is unambiguous.
    """
    text = " ".join(article.sentences)
    protected = set(re.findall(r"[\w']+", article.title))
    kinds = kinds if kinds is not None else pools.kind_of()
    changes: dict[str, str] = {}

    def fresh(new: str) -> bool:
        # new to the article, and no old value inside it or it inside one ("Baldwin" in "Stanley Baldwin")
        return not _mentions(text, new) and not any(
            _mentions(new, v) or _mentions(v, new) for pair in changes.items() for v in pair)

    # names: longest first, so "Arthur C. Clarke" is found before "Clarke"
    for title in sorted((t for t in kinds if t in text), key=len, reverse=True):
        if protected & set(re.findall(r"[\w']+", title)) or not _mentions(text, title):
            continue
        if any(title in old for old in changes):
            continue
        what, kind = kinds[title]
        pool = {"person": pools.people, "nationality": NATIONALITIES}.get(what) \
            or pools.places.get(kind, ())
        for _ in range(tries):
            new = rng.choice(pool) if pool else title
            if new != title and fresh(new):
                changes[title] = new
                surname, new_surname = title.split()[-1], new.split()[-1]
                if what == "person" and surname not in protected and fresh(new_surname) \
                        and surname != new_surname and _mentions(text.replace(title, ""), surname):
                    changes[surname] = new_surname
                break

    # numbers: years move together (ranges and order stay valid), others are rescaled
    years, others = [], []
    for m in _NUMBER.finditer(text):
        old, decimals = m.group(1), m.group(2) or ""
        if old in protected or old + decimals in changes:
            continue
        is_bc = bool(_BC.match(text[m.end():]))
        if not decimals and "," not in old and (is_bc or 1000 <= int(old) <= _YEAR_MAX):
            years.append((old, is_bc))
        else:
            others.append((old, decimals))
    if years:
        for _ in range(tries):
            shift = rng.choice([-1, 1]) * rng.randint(3, 40)
            new_years = {}
            for old, is_bc in years:
                value = int(old) - shift if is_bc else int(old) + shift
                if value < 1 or (not is_bc and value > _YEAR_MAX):
                    break
                new_years[old] = str(value)
            else:
                if all(fresh(v) for v in new_years.values()):
                    changes.update(new_years)
                    break
    for old, decimals in others:
        for _ in range(tries):
            new = _new_number(old, decimals, rng)
            if new != old + decimals and fresh(new):
                changes[old + decimals] = new
                break
    return list(changes.items())


def apply_changes(text: str, changes) -> tuple[str, list[tuple[str, str]]]:
    """Replace every old value in `text` by its new one in one pass.

    Returns the new text and the (old, new) pairs that occurred, in order of first occurrence.
    """
    if not changes:
        return text, []
    table = dict(changes)
    olds = "|".join(re.escape(o) for o in sorted(table, key=len, reverse=True))
    pattern = re.compile(f"{_BEFORE}({olds}){_AFTER}")
    used = {}

    def swap(m):
        used.setdefault(m.group(1), table[m.group(1)])
        return table[m.group(1)]

    return pattern.sub(swap, text), list(used.items())


def counterfactual_article(article: Article, changes) -> Article:
    """The article with `changes` applied to every sentence."""
    return replace(article, sentences=tuple(apply_changes(s, changes)[0] for s in article.sentences))
