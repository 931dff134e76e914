"""Numbers in a reply come from its passage or the dialogue, never from the generator's memory.

A grounded model's wrong answers are often numbers: the passage says "Mount Fuji last
erupted from 1707 to 1708" and the reply says "from 1707 to 1987". While decoding,
each generator row (one passage under RAG-Token and RAG-Sequence; all of an example's
passages under FiD) may begin or continue a number only on the way to one that its own
passage or the dialogue states, and may end one only where such a number ends. The
closed tokens get -inf before the row's softmax, so each row's distribution is renormalised
over what its passage allows: a passage without the number asked for says it in words or
leaves it out, and under RAG-Token the rows whose passages hold a number carry it by their
prior alone.

A number may be written as its text writes it, without thousands separators, or with
them in their places ("8,848" or "8848"; never "8,8,48", nor "1,5" for 15); a comma or
full stop after a whole number is the sentence's. Numbers written as words ("three") are
not held to this.
"""

import re
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

import torch

DIGITS = frozenset("0123456789")
_NUMBER = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?")
_WRITTEN = re.compile(r"[0-9][0-9,]*(?:\.[0-9]*)?")  # as generation writes it: "." may be a decimal point
_TRAILING = re.compile(r"[0-9][0-9,]*\.?[0-9]*$")  # the number a text ends in, perhaps unfinished


def _written_ways(number: str) -> set:
    """A number as its text has it, without separators, and with thousands separators
    ("8,848.86" and "8848.86"; "1953" but not "1,953", which no one writes for a year)."""
    number = number.rstrip(",")
    plain = number.replace(",", "")
    ways = {number, plain}
    whole, dot, fraction = plain.partition(".")
    if len(whole) > 4 or "," in number:
        ways.add(f"{int(whole):,}{dot}{fraction}")
    return ways


def numbers_in(texts: Iterable[str]) -> frozenset:
    """The numbers the texts state, each as written and without or with thousands
    separators ("May 3, 1903" -> {"3", "1903"}; "8,848.86 m" -> {"8,848.86", "8848.86"})."""
    return frozenset(way for text in texts for m in _NUMBER.finditer(text or "")
                     for way in _written_ways(m.group(0)))


@dataclass(frozen=True)
class AllowedNumbers:
    """The numbers a row may state (as they may be written), and every beginning of one."""

    whole: frozenset
    beginnings: frozenset

    @classmethod
    def of(cls, texts: Iterable[str]) -> "AllowedNumbers":
        whole = numbers_in(texts)
        return cls(whole, frozenset(n[:i] for n in whole for i in range(1, len(n) + 1)))

    def _punctuated(self, run: str) -> bool:
        # "In 1953, he ..." and "... in 1953.": the comma or full stop is the sentence's
        return len(run) > 1 and run[-1] in ",." and run[:-1] in self.whole

    def may_continue(self, run: str) -> bool:
        """`run` (as written) can still become, or already is, an allowed number."""
        return run in self.beginnings or self._punctuated(run)

    def finished(self, run: str) -> bool:
        return not run or run in self.whole or self._punctuated(run)


def trailing_number(text: str) -> str:
    """The number ``text`` ends in, as written ("... is 8,84" -> "8,84"), or ""."""
    match = _TRAILING.search(text)
    return match.group(0) if match else ""


def _fits(text: str, piece: str, allowed: AllowedNumbers) -> bool:
    """Whether ``text + piece`` states only allowed numbers where ``piece`` touches them:
    a number it closes is a whole one, the one it ends in can still become one."""
    run = _TRAILING.search(text)
    joined = (text[run.start():] if run else "") + piece
    for match in _WRITTEN.finditer(joined):
        number = match.group(0)
        if match.end() == len(joined):
            if not allowed.may_continue(number):
                return False
        elif not allowed.finished(number):
            return False
    return True


def _as_written(tokenizer, anchor: List[int], token: int) -> str:
    """A piece as it reads after a word: with the space a new word has ("Ġ7", or WordPiece's
    "7"), without it where the piece joins the one before ("7", or WordPiece's "##7")."""
    before = tokenizer.decode(anchor)
    return tokenizer.decode(anchor + [token])[len(before):]


class NumberTokens:
    """The pieces of a vocabulary that write a digit, and the separators ("," ".") that may
    go on with an unfinished number. Byte-level, SentencePiece and WordPiece vocabularies
    keep digits and separators as they are in the raw piece, so only those few pieces are
    decoded."""

    def __init__(self, tokenizer, vocab_size: int):
        ids = list(range(min(vocab_size, len(tokenizer))))
        raw = tokenizer.convert_ids_to_tokens(ids)
        anchor = tokenizer.encode("a", add_special_tokens=False)
        pieces = {i: _as_written(tokenizer, anchor, i) for i, piece in zip(ids, raw)
                  if piece and any(c in DIGITS or c in ",." for c in piece)}
        self.digits = {i: p for i, p in pieces.items() if any(c in DIGITS for c in p)}
        self.separators = {i: p for i, p in pieces.items() if p in (",", ".")}
        self.number_pieces = {**self.digits, **self.separators}  # what an unfinished number may go on with
        # a lone space: a vocabulary whose digits take no space ("Ġ" "1" "9" "6" "1" for
        # " 1961", as SmolLM2's) writes it before a number
        self.spaces = [i for i, piece in zip(ids, raw) if piece in ("Ġ", "▁")]


def closed_tokens(text: str, allowed: AllowedNumbers, tokens: NumberTokens) -> Tuple[List[int], bool]:
    """The token ids a row that has written ``text`` may not write next, and whether every
    other token is closed too (an unfinished number that can only go on as it must)."""
    run = trailing_number(text)
    if run and not allowed.finished(run):
        ways_on = [i for i, p in tokens.number_pieces.items() if _fits(text, p, allowed)]
        if ways_on:  # only these; else the generator has left the passage's number already
            return ways_on, True
    closed = [i for i, p in tokens.digits.items() if not _fits(text, p, allowed)]
    if not allowed.whole:
        # a row that may state no number may not begin one either: the lone space left
        # the reply stranded before closed digits ("World War II ended on the  long date")
        closed += tokens.spaces
    return closed, False


def close_per_row(logits: torch.Tensor, closures) -> torch.Tensor:
    """``logits`` ``[R, V]`` with, for each ``(row, ids, only)`` of ``closures``, -inf at
    ``ids``, or with ``only`` everywhere but at ``ids``. Returns ``logits`` itself when
    nothing is closed. The rules of numbers and of names (`grounded_names`) close so."""
    out = None
    for r, ids, only in closures:
        out = logits.clone() if out is None else out
        index = torch.as_tensor(ids, dtype=torch.long, device=logits.device)
        if only:  # keep these, close the rest
            kept = out[r, index].clone()
            out[r] = float("-inf")
            out[r, index] = kept
        else:
            out[r, index] = float("-inf")
    return logits if out is None else out


def close_unstated_numbers(logits: torch.Tensor, texts: Sequence[str], allowed: Sequence[AllowedNumbers],
                           tokens: NumberTokens) -> torch.Tensor:
    """``logits`` ``[R, V]`` of R generator rows, with -inf where a token would state a
    number that the row's ``allowed`` does not hold, given the row's reply so far
    ``texts[r]``. Returns ``logits`` itself when nothing is closed."""
    closures = ((r, *closed_tokens(text, row_allowed, tokens)) for r, (text, row_allowed) in enumerate(zip(texts, allowed)))
    return close_per_row(logits, ((r, ids, only) for r, ids, only in closures if ids))


def numbers_per_row(histories: Sequence[str], passages: Sequence[Sequence[Tuple[str, str]]],
                    row_per_passage: bool) -> List[AllowedNumbers]:
    """Per generator row, in the model's row order, the numbers it may state: those of
    its passage (or, with one row per example, of all the example's passages) and of its
    example's dialogue."""
    rows = []
    for history, example in zip(histories, passages):
        texts = [f"{title} {text}" for title, text in example]
        groups = [[t] for t in texts] if row_per_passage else [texts]
        rows.extend(AllowedNumbers.of([history, *group]) for group in groups)
    return rows


def spare_numbers_from_ngram_blocking(tree, tokens: NumberTokens) -> None:
    """Make ParlAI's n-gram blocking (`--beam-block-ngram`) let a number go on as it must.
    With one token per digit, as SmolLM2 has, blocking trigrams forbids "1707 to 1708"
    ("1 7 0" twice) and "38,000,000" ("0 0 0" twice): the search then writes another
    number ("1987", "38,000,010"). ParlAI's own blocking runs as before, then a hypothesis
    that ends in a digit or separator gets back the tokens that would continue its number
    (a digit or separator written without a space); word loops stay blocked."""
    if getattr(tree, "gpu_beam_blocking", False):
        return  # the fused kernel blocks by its own rules
    in_number = sorted(tokens.number_pieces)
    continuing = sorted(i for i, p in tokens.number_pieces.items() if p[:1] in DIGITS or p[:1] in ",.")
    block = tree._block_ngrams

    def block_but_numbers(ngram_size, logprobs, step=0, if_context_blocking=False):
        ends = torch.as_tensor(tree.partial_hyps)[:, -1].to(logprobs.device)
        rows = torch.isin(ends, torch.tensor(in_number, dtype=torch.long, device=logprobs.device)).nonzero().view(-1, 1)
        columns = torch.tensor(continuing, dtype=torch.long, device=logprobs.device)
        kept = logprobs[rows, columns]
        logprobs = block(ngram_size, logprobs, step, if_context_blocking)
        logprobs[rows, columns] = kept
        return logprobs

    tree._block_ngrams = block_but_numbers


# ---------------------------------------------------------------------- a number asked for
# A question that asks for a quantity or a date, as people ask it, by the kind of number
# that answers it: a measure ("How tall is ...?", "What is the length of ...?"), a count
# ("How many ...", "How old ...", "What is the population of ...") or a date ("What year
# ...", "When did ..."). "How much do you like ...?" asks about the listener, not the world.
_NOT_THE_LISTENER = r"(?!\s+(?:do|did|would|have|are|were)\s+(?:you|u|ya)\b)"
_WHAT_IS_THE = r"\bwhat\s+(?:is|was|'s|’s)\s+(?:the\s+|its\s+|their\s+)?"
_ASKED_KINDS = (
    # "How long can it live?", "How long does it take ...?": a time, not a length
    ("duration", re.compile(r"\bhow\s+long\b" + _NOT_THE_LISTENER + r"[^?.!]*\b(?:live[sd]?|last(?:s|ed)?|"
                            r"take[sn]?|took|reign(?:s|ed)?|rule[sd]?|survive[sd]?|stay(?:s|ed)?|ago|sleep(?:s)?|"
                            r"wait|run(?:s)?|ran)\b|"
                            # ... or ends in a verb's participle: "How long is Kesh pudding baked?"
                            r"\bhow\s+long\b" + _NOT_THE_LISTENER + r"[^?.!]*\b(?-i:[a-z]+(?:ed|en))(?:\s+for)?\s*\?",
                            re.IGNORECASE)),
    ("measure", re.compile(r"\bhow\s+(?:long|tall|high|deep|far|big|large|wide|heavy|fast|hot|cold)\b"
                           + _NOT_THE_LISTENER + "|" + _WHAT_IS_THE + r"(?:height|length|area|depth|width|weight|"
                           r"distance|diameter|elevation|altitude|temperature|speed|size|mass|boiling point|melting point|"
                           r"freezing point)\b", re.IGNORECASE)),
    # "How much does it cost?": a sum of money, not any number ("accurate to a tenth of a millibar")
    ("price", re.compile(r"\bhow\s+much\b" + _NOT_THE_LISTENER + r"[^?.!]*\b(?:cost(?:s|ed)?|pay|paid|worth|"
                         r"charge[sd]?|sell(?:s)?\s+for|sold\s+for)\b|" + _WHAT_IS_THE + r"(?:price|cost)\b",
                         re.IGNORECASE)),
    ("count", re.compile(r"\bhow\s+(?:many|much|old|often)\b" + _NOT_THE_LISTENER + "|" + _WHAT_IS_THE
                         + r"(?:population|age)\b", re.IGNORECASE)),
    # "When did/was ...?" asks when something happened: a year. "When is/does ...?" asks
    # when it recurs ("When is Crellish pie traditionally eaten?" -> "in late October")
    ("date", re.compile(r"\b(?:what|which)\s+year\b|\bwhen\s+(?:did|was|were)\b", re.IGNORECASE)),
)
# a measure is a number with its unit: "5,895 m", "an 82-kilometer waterway", "330 metres"
_MEASURE = re.compile(
    r"[0-9][0-9,]*(?:\.[0-9]+)?(?:\s*(?:million|billion|thousand))?(?:[\s-]*°|[\s-]*\(?\b(?:m|km|cm|mm|ft|mi|kg|"
    r"lb|t|metres?|meters?|kilometres?|kilometers?|centimetres?|centimeters?|feet|foot|miles?|inch(?:es)?|"
    r"yards?|kilograms?|grams?|tonnes?|tons?|pounds?|light[ -]years?|au|degrees?|kelvin|acres?|hectares?|km2|sq|"
    r"square|mph|knots?|m/s|km/h)\b)", re.IGNORECASE)
# a sum of money: "$40", "£2.50", "about 300 million dollars", "15 euros"
_SCALED = r"[0-9][0-9,]*(?:\.[0-9]+)?(?:\s*(?:million|billion|thousand))?"
_PRICE = re.compile(rf"[$£€¥]\s*{_SCALED}|{_SCALED}\s*(?:dollars?|pounds?|euros?|cents?|pence|yen|francs?|"
                    r"crowns?|rupees?|USD|EUR|GBP)\b", re.IGNORECASE)
_DATE = re.compile(r"(?<![0-9.,])(?:[0-9]{3,4})(?![0-9]|[.,][0-9])")  # a year: "1961", "AD 476"
# a time with its unit: "more than 120 years", "29.45 years", "about 26 years"
_DURATION = re.compile(
    r"(?:[0-9][0-9,]*(?:\.[0-9]+)?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred)\b)(?:[\s-]*(?:billion|million|thousand))?[\s-]*"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|century|millennia)\b"
    r"(?!\s+(?:ago|before|earlier|later|after)\b)", re.IGNORECASE)  # "14,000 years ago" is when, not how long
_YEAR = re.compile(r"(?<![0-9.,])(?:1[0-9]{3}|20[0-9]{2})(?![0-9]|[.,][0-9])")
# what a measure's unit measures, checked in this order ("9,200,000 square kilometres" is an area)
_UNIT_DIMENSIONS = (
    ("temperature", re.compile(r"°|\bdegrees?\b|\bkelvin\b", re.IGNORECASE)),
    ("speed", re.compile(r"\b(?:mph|knots?|m/s|km/h)\b", re.IGNORECASE)),
    ("area", re.compile(r"\b(?:square|sq|km2|acres?|hectares?)\b", re.IGNORECASE)),
    ("weight", re.compile(r"\b(?:kg|lb|t|kilograms?|grams?|tonnes?|tons?|pounds?)\b", re.IGNORECASE)),
    ("length", re.compile(r"\b(?:m|km|cm|mm|ft|mi|au|metres?|meters?|kilometres?|kilometers?|centimetres?|"
                          r"centimeters?|feet|foot|miles?|inch(?:es)?|yards?|light[ -]years?)\b", re.IGNORECASE)),
)
# the dimension a question for a measure asks ("How hot ...?" a temperature); "How big ...?"
# and "What is the size ...?" take any
_ASKED_DIMENSIONS = (
    ("length", re.compile(r"\bhow\s+(?:tall|high|deep|long|wide|far)\b|\b(?:height|length|depth|width|distance|"
                          r"diameter|elevation|altitude)\b", re.IGNORECASE)),
    ("weight", re.compile(r"\bhow\s+heavy\b|\b(?:weight|mass)\b", re.IGNORECASE)),
    ("temperature", re.compile(r"\bhow\s+(?:hot|cold|warm)\b|\b(?:temperature|boiling point|melting point|"
                               r"freezing point)\b", re.IGNORECASE)),
    ("speed", re.compile(r"\bhow\s+fast\b|\bspeed\b", re.IGNORECASE)),
)


def asked_dimension(message: str) -> str | None:
    """What a question for a measure measures: "length" ("How tall ...?"), "weight",
    "temperature" or "speed"; None for any ("How big ...?") or no measure."""
    if asked_number(message) != "measure":
        return None
    return next((name for name, pattern in _ASKED_DIMENSIONS if pattern.search(message or "")), None)


def _dimension(measure: str) -> str | None:
    """What a measure as written ("9,200,000 square kilometres") measures, by its unit."""
    return next((name for name, unit in _UNIT_DIMENSIONS if unit.search(measure)), None)


# a unit per second or hour goes on past the length it opens: "299,792,458 m⋅s−1", "30 km/h"
_PER_TIME = re.compile(r"\s*(?:[⋅·/]\s*(?:s|h)\b|\s*per\s+(?:second|hour|minute)\b|[⋅·]?s\s*[−-]1\b)", re.IGNORECASE)


def _measures_of(dimension: str | None, text: str) -> frozenset:
    """The numbers of the measures in `text` of `dimension` (any, for None)."""
    def of(m) -> str | None:
        return "speed" if _PER_TIME.match(text, m.end()) else _dimension(m.group(0))
    return numbers_in([m.group(0) for m in _MEASURE.finditer(text) if dimension is None or of(m) == dimension])
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "hundreds thousand thousands million millions billion billions trillion dozen dozens half "
    "first second third fourth fifth sixth seventh eighth ninth tenth".split())
_WORD = re.compile(r"[a-z]+")
# the words a passage gives a count in ("Three living species"; not "one of", "first")
_COUNT_WORDS = _NUMBER_WORDS - frozenset("one half first second third fourth fifth sixth seventh eighth ninth "
                                         "tenth".split())
# tokens a reply that awaits a number may go on without one: past them it may end anyway
# (a reply of the chat is one or two sentences, 15-40 tokens)
NUMBER_WAIT = 48
# greedy decoding of such a reply widens to this many hypotheses (see RagAgent._awaits_number)
NUMBER_BEAMS = 2


def asked_number(message: str):
    """The kind of number the message asks for: "duration" ("How long can it live?"),
    "measure" ("How tall is Mount Kilimanjaro?"), "count" ("How many species ...?") or
    "date" ("When did ...?"); None when it asks for none."""
    for kind, pattern in _ASKED_KINDS:
        if pattern.search(message or ""):
            return kind
    return None


def asks_for_number(message: str) -> bool:
    """Whether the message asks for a quantity or a date (`asked_number`)."""
    return asked_number(message) is not None


def _numbers_of_kind(kind: str, text: str) -> frozenset:
    """The numbers `text` states as the kind asked (as written and without or with
    separators, `numbers_in`): measures with their unit, dates (a year: a whole number of
    three or four digits, not a measure's), or counts (any number but a year)."""
    if kind == "measure":
        found = [m.group(0) for m in _MEASURE.finditer(text)]
    elif kind == "duration":
        found = [m.group(0) for m in _DURATION.finditer(text)]
    elif kind == "price":
        found = [m.group(0) for m in _PRICE.finditer(text)]
    elif kind == "date":  # not a measure's number: "Its main span is 412 metres long."
        measured = [m.span() for m in _MEASURE.finditer(text)]
        found = [m.group(0) for m in _DATE.finditer(text)
                 if not any(start <= m.start() < end for start, end in measured) and not _counts_at(text, m)]
    else:
        years = {m.group(0) for m in _YEAR.finditer(text)}
        found = [m.group(0) for m in _NUMBER.finditer(text) if m.group(0).rstrip(",.") not in years]
    # a time in words counts as its digits: "baked for three hours"
    worded = {_WORDED_COUNTS[w] for time in found if kind == "duration"
              for w in re.split(r"[\s-]+", time.lower()) if w in _WORDED_COUNTS}
    return numbers_in(found) | worded


# a number that counts what follows it ("30 to 100 musicians") is no year, unless a word of
# time comes before it ("in 1850 sales rose")
_COUNTED_AFTER = re.compile(r"\s+(?:[a-z]+\s+)?([a-z]+s)\b")
_TIME_BEFORE = re.compile(r"\b(?:in|on|by|since|until|till|before|after|during|from|circa|c\.|year|AD|BC)\s*$",
                          re.IGNORECASE)


def _counts_at(text: str, match) -> bool:
    """Whether the number `match` found in `text` counts the plural word after it."""
    from rag_dialogue.metrics import content_words

    after = _COUNTED_AFTER.match(text, match.end())
    return bool(after) and bool(content_words(after.group(1))) and not _TIME_BEFORE.search(text[:match.start()])


def _answers(kind: str, text: str, known: frozenset) -> bool:
    """Whether `text` states a number of the kind asked (`_numbers_of_kind`) that is not
    among `known`."""
    return bool(_numbers_of_kind(kind, text) - known)


def states_number(text: str) -> bool:
    """Whether the text states a number, in digits or in words ("Three living species")."""
    return any(c in DIGITS for c in text) or any(w in _NUMBER_WORDS for w in _WORD.findall(text.lower()))


def passage_answers(kind, text: str, message: str = "") -> bool:
    """Whether a passage's text states a number of the `kind` asked (`asked_number`); a
    count may be written in words ("Three living species are recognised"); a measure, of
    the dimension `message` asks (`asked_dimension`: "How hot ...?" is not answered by an
    area)."""
    dimension = asked_dimension(message) if kind == "measure" else None
    if dimension:
        return bool(_answer_numbers(kind, dimension, text))
    return _answers(kind, text, frozenset()) or (
        kind == "count" and any(w in _COUNT_WORDS for w in _WORD.findall(text.lower())))


def number_about(kind, names: Sequence[str], said: str, passages: Sequence[Tuple[str, str]]) -> bool:
    """Whether a passage about what the conversation names (`abstain.is_about` its title)
    states a number of the `kind` asked (`asked_number`) that the dialogue `said` does
    not: then the reply should not end before it states one.

    The model trained on conversations paraphrases and shortens: asked "How long is the
    Panama Canal?" with "an artificial 82-kilometer (51-mile) waterway" ranked first, it
    answered "an artificial waterway ...", the length left out. A passage about something
    else is not enough: "How deep is it?" about the Pacific must not take a strait's width;
    nor a number of another kind: "How tall is the Eiffel Tower?" must not take its years
    ("built the tower from 1887 to 1889")."""
    from rag_dialogue.abstain import is_about

    if not kind:
        return False
    known = numbers_in([said])
    return any(is_about(names, title) and _answers(kind, text, known) for title, text in passages)


def hold_end_until_number(log_probs: torch.Tensor, texts: Sequence[str], awaited: Sequence[bool],
                          ending: torch.BoolTensor, max_length: int, length: int) -> torch.Tensor:
    """``log_probs`` ``[R, V]`` with the tokens that end a sentence or the reply (``ending``
    ``[V]``) at -inf in each row r that awaits a number (``awaited[r]``) whose reply so far
    ``texts[r]`` states none, while the reply is shorter than ``max_length`` tokens
    (``length``; past it, the row may end without one). Returns ``log_probs`` itself when
    nothing is held."""
    held = [r for r, (text, waits) in enumerate(zip(texts, awaited)) if waits and not states_number(text)]
    if not held or length >= max_length:
        return log_probs
    out = log_probs.clone()
    columns = ending.to(out.device)[: out.size(-1)].nonzero().view(1, -1)
    out[torch.tensor(held, device=out.device)[:, None], columns] = float("-inf")
    return out


# ---------------------------------------------------------------------- the number asked, checked
_COUNTED = re.compile(r"\bhow\s+(?:many|much)\s+([a-z]+)", re.IGNORECASE)
# words after "how much" that name no thing measured: "How much longer ...?"
_NOT_COUNTED = frozenset("longer further farther bigger larger older later earlier sooner time".split())
_SMALL = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
# counts in words beyond twelve: Chess's players "each control sixteen pieces"
_WORDED_COUNTS = {**_SMALL, **{w: str(i) for i, w in enumerate(
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(), start=13)},
    **{w: str(10 * i) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}}
_TOKEN = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?|[a-z]+", re.IGNORECASE)
# words between a count and what it counts: "two teams of five players", "eight black keys"
COUNT_REACH = 3


class Occasions(str):
    """What "How many times ...?" counts: the times the question's verb was done, by its
    base's stem ("win" for "How many times has it won the cup?"), said as a count of that
    ("with 23 wins") or of times ("won it 23 times")."""


# "How many times has Kestrel Rowing Club won the Orvane Cup?": the verb after "times", its
# auxiliary and its subject (an irregular participle, a regular one, or a do-clause's verb)
_TIMES_ASKED = re.compile(r"\bhow\s+many\s+times\s+(?:has|have|had|is|was|were|are)\s+(?P<rest>[^?]*)", re.IGNORECASE)


def _times_verb(message: str) -> str | None:
    """The base stem of the verb whose times "How many times ...?" counts, or None where
    none is found ("How many times was it rebuilt?")."""
    from rag_dialogue.abstain import _VERB_FORMS, asked_verbs
    from rag_dialogue.metrics import stem

    verbs = sorted(asked_verbs(message))  # "How many times did the team win the cup?"
    if not verbs:
        match = _TIMES_ASKED.search(message or "")
        verbs = [w for w in re.findall(r"\b[a-z]+\b", match["rest"] if match else "")
                 if w.endswith("ed") or (stem(w) in _VERB_FORMS and stem(w) != _VERB_FORMS[stem(w)])][:1]
    return _VERB_FORMS.get(stem(verbs[0]), stem(verbs[0])) if verbs else None


class Capacity(str):
    """What "How many people could it hold?" counts: people a place holds at once ("50,000
    spectators", "seats 2,000"), which no population gives ("with a population of 4.2
    million" is Rome's, not the Colosseum's)."""


# the verbs that ask how many a place holds at once
_HOLDS = re.compile(r"\b(?:hold|holds|held|seat|seats|seated|accommodate[sd]?|fit|fits)\b", re.IGNORECASE)


def counted_thing(message: str):
    """What a count question counts: "How many players does a team have?" -> "players";
    "How much caffeine is in a cup?" -> "caffeine" (not "How much does it weigh?"); "How
    many times has it won the cup?" -> `Occasions` "win"."""
    from rag_dialogue.metrics import content_words

    match = _COUNTED.search(message or "")
    thing = match.group(1).lower() if match else None
    if thing == "times":
        return Occasions(_times_verb(message) or "time")
    if thing == "people" and _HOLDS.search(message or ""):
        return Capacity(thing)
    return thing if thing and content_words(thing) and thing not in _NOT_COUNTED else None


def _counts_of(thing: str, text: str) -> set:
    """The numbers `text` gives right before `thing` (by stem, within COUNT_REACH words),
    digits without separators, the small ones written in words as digits: "two teams of
    five players each" -> {"5"} for "players" ("two" counts teams); "eight-limbed" -> {"8"}
    for "limbs"."""
    from rag_dialogue.metrics import stem

    want = stem(thing)
    wanted = {want, *_COUNTED_AS.get(want, ()), *(("time",) if isinstance(thing, Occasions) else ())}
    written = _TOKEN.findall(text or "")
    tokens = [t.lower().replace(",", "") for t in written]
    found = set()
    for i, token in enumerate(tokens):
        number = _WORDED_COUNTS.get(token, token if token[0] in DIGITS else None)
        if number is None or _in_a_name(written, i):
            continue
        for after in tokens[i + 1:i + 1 + COUNT_REACH]:
            if after[0] in DIGITS or after in _WORDED_COUNTS:
                break  # the next number counts what follows
            if stem(after) in wanted:
                found.add(number)
                break
    if want in _COUNTED_AS and not isinstance(thing, Capacity):  # "a population of over 140 million" counts people
        found |= {m.group(1).replace(",", "") for m in _POPULATION.finditer(text or "")}
    return found


# what a count of people is said as: "140 million inhabitants", "a population of 8.5 million"
_COUNTED_AS = {"peopl": ("inhabit", "resid", "citizen", "person", "spectat", "visitor", "passeng", "seat")}
_POPULATION = re.compile(r"\bpopulation\s+(?:of\s+)?(?:(?:over|about|around|nearly|approximately|some|"
                         r"more\s+than|almost|roughly|just\s+over|an\s+estimated)\s+)?([0-9][0-9,.]*)",
                         re.IGNORECASE)


def _in_a_name(written: Sequence[str], i: int) -> bool:
    """Whether the number word written[i] opens or is part of a capitalised name ("One
    Piece is a Japanese manga", "the Three Gorges Dam"), which counts nothing."""
    return (written[i][0].isupper() and not written[i][0].isdigit()
            and i + 1 < len(written) and written[i + 1][0].isupper())


# a count given per some whole: "thirty bones in each leg", "nine players per team"
_PER_WHOLE = re.compile(r"\b(?:in|on|per)\s+(?:each|every|a|an|one|per)\s+([a-z][a-z\s-]*)", re.IGNORECASE)
_WHOLE_ENDS = frozenset("and or but with which that who where while when as at by for from to of".split())


def counts_another_whole(reply: str, message: str) -> bool:
    """Whether `reply` gives a count of what a count question asks for ("How many bones
    are in the human body?") per some whole that the question does not name: "There are
    thirty bones in each leg." is true, and it is not the answer. "There are 88 keys on a
    standard piano" still answers "How many keys does a piano have?"."""
    from rag_dialogue.metrics import content_words, passage_sentences, stem

    thing = counted_thing(message) if asked_number(message) == "count" else None
    if not thing:
        return False
    asked, counted = {stem(w) for w in content_words(message)}, stem(thing)
    for sentence in passage_sentences(reply or ""):
        tokens = [t.lower() for t in _TOKEN.findall(sentence)]
        if not any((t[0] in DIGITS or t in _COUNT_WORDS)
                   and counted in {stem(a) for a in tokens[i + 1:i + 1 + COUNT_REACH]}
                   for i, t in enumerate(tokens)):
            continue  # no count of the thing asked ("thirty bones")
        for match in _PER_WHOLE.finditer(sentence):
            whole = []
            for word in match.group(1).lower().split()[:3]:
                if word in _WHOLE_ENDS:
                    break
                whole.append(word)
            if whole and not {stem(w) for w in whole} & asked:
                return True
    return False


_SCALES = ("million", "billion", "thousand", "hundred")


def _counts_something(text: str) -> bool:
    """Whether `text` gives a count of a thing it names right after the number, or after
    its scale ("45,700 spider species", "519 million native speakers"), not a bare amount
    ("about 38 million")."""
    from rag_dialogue.metrics import content_words

    tokens = [t.lower().replace(",", "") for t in _TOKEN.findall(text)]

    def named_after(i: int) -> bool:
        i += 1 if i + 1 < len(tokens) and tokens[i + 1] in _SCALES else 0
        return i + 1 < len(tokens) and tokens[i + 1] not in _SCALES and bool(content_words(tokens[i + 1]))

    return any(token[0] in DIGITS and not _YEAR.fullmatch(token) and named_after(i) for i, token in enumerate(tokens))


_HOW_OFTEN = re.compile(r"\bhow often\b", re.IGNORECASE)
# any word of frequency: a reply that has one ("usually in spring") is not taken back as
# giving none (`gives_no_number`); a passage sentence answers only with one stated outright
# (`_STATED_FREQUENCY`)
_FREQUENCY = re.compile(
    r"\b(?:every|each|daily|weekly|monthly|yearly|annually|hourly|once|twice|thrice|times|per|always|usually"
    r"|often|rarely|seldom|never|sometimes|frequently|occasionally|regularly|a (?:day|week|month|year|decade))\b",
    re.IGNORECASE)
# a frequency a sentence states outright: "every four years", "twice a day", "annually"
_STATED_FREQUENCY = re.compile(
    r"\b(?:every|once|twice|thrice|\w+ times)\b(?:\s+\w+){0,3}?\s+(?:second|minute|hour|day|night|week|month|"
    r"year|decade|century)s?\b|\b(?:hourly|daily|nightly|weekly|fortnightly|monthly|yearly|annually|biennially)\b",
    re.IGNORECASE)


def _asked_kind(message: str) -> str | None:
    """`asked_number`'s kind, or "frequency" for "How often ...?" (which it counts as a
    count): answered by a frequency stated outright, "every four years"."""
    return "frequency" if _HOW_OFTEN.search(message or "") else asked_number(message)


# a life's end or start, asked of its date or age: a year of another event does not answer
# it. (asked, answered): the words that ask, the words or lifespan dates that answer.
_LIFE_EVENTS = (
    (re.compile(r"\b(?:die[sd]?|dying|death|dead|killed|passed away)\b", re.IGNORECASE),
     re.compile(r"\b(?:die[sd]?|deaths?|dead|killed|executed|murdered|assassinated|passed away)\b"
                r"|[0-9]{3,4}\s*[\u2013-]\s*(?:[A-Za-z]+\.? [0-9]{1,2},? )?[0-9]{3,4}\)", re.IGNORECASE)),
    (re.compile(r"(?<!-)\b(?:born|birth|birthday)\b", re.IGNORECASE),
     re.compile(r"(?<!-)\b(?:born|birth)\b|\((?:[^()]*?\s)?[0-9]{3,4}\s*[\u2013-]", re.IGNORECASE)),
)


_ASKS_HOW = re.compile(r"\s*how\s+(?:did|does|do|was|were|is)\b", re.IGNORECASE)
_AFTER_THE_EVENT = re.compile(r"\b(?:after|before|until|since|following|upon|at the time of)\s+(?:his|her|their|its)\s+"
                              r"(?:death|birth)\b", re.IGNORECASE)


def holds_the_event(text: str, message: str, subjects: Sequence[str] = ()) -> bool:
    """Whether `text` speaks of the life event (a death, a birth) that `message` asks the
    date or age of, where it asks of one: "When did he die?" of Alexander Graham Bell is
    not answered by "He also co-founded ... AT&T in 1885.", nor "When was he born?" by a
    sentence about a "natural-born citizen", nor "How did she die?" by "After her death,
    Egypt became a province ...", nor "When did she die?" of Marie Curie by "... the fifth
    anniversary of Alfred Nobel's death." (`_ANOTHER_S_EVENT`, unless the question or one
    of the `subjects`, the texts that say whom the dialogue is about, names him). True
    where it asks of none."""
    if _ASKS_HOW.match(message or ""):
        text = _AFTER_THE_EVENT.sub(" ", text or "")  # "After her death, Egypt became ..." tells not how
    named = " ".join([message or "", *subjects]).lower()
    text = _ANOTHER_S_EVENT.sub(lambda m: m.group(0) if (m.group(1) or m.group(2)).lower() in named else " ", text or "")
    return all(answered.search(text) for asked, answered in _LIFE_EVENTS if asked.search(message or ""))


# a death or birth of someone the question does not name: "Alfred Nobel's death" does not
# answer "When did she die?" of Marie Curie, nor "her husband's death" either
_ANOTHER_S_EVENT = re.compile(
    r"\b((?:[A-Z][\w.-]*\s+)*[A-Z][\w.-]*|(?:his|her|their|its)\s+(?:father|mother|husband|wife|son|daughter"
    r"|brother|sister|parents|son-in-law|friend|teacher|predecessor|successor))['’]s?\s+(?:death|birth)\b"
    r"|\b(?:death|birth)\s+of\s+((?:his|her|their)\s+[a-z]+|(?:[A-Z][\w.-]*\s+)*[A-Z][\w.-]*)")


# "When was that?", "When did that happen?": when the event the last reply told happened
_ASKS_WHEN_THAT = re.compile(r"^\W*when\s+(?:was|did)\s+(?:that|this)(?:\s+happen)?\W*$", re.IGNORECASE)


def _event_stems(text: str) -> frozenset:
    """The content stems of `text`'s lowercase words: what it tells of, its names aside."""
    from rag_dialogue.metrics import content_stems, uncapitalised_words

    return content_stems(" ".join(uncapitalised_words(text)))


def tells_another_event(reply: str, message: str, turns: Sequence[str]) -> bool:
    """Whether `reply`, to "When was that?" or "When did that happen?" (which ask when the
    event the last reply told happened), shares no word of that event with the last reply,
    names aside: after "Alexander Graham Bell ... is credited with patenting the first
    practical telephone", "He also co-founded the American Telephone and Telegraph Company
    (AT&T) in 1885." tells when another thing happened."""
    from rag_dialogue.metrics import declines

    if not _ASKS_WHEN_THAT.match(message or "") or len(turns) < 2 or declines(reply or ""):
        return False
    told = _event_stems(turns[-2])
    return bool(told) and not _event_stems(reply) & told


def unheld_number(reply: str, message: str, passages) -> bool:
    """Whether `reply` gives a number of the kind `message` asks for (`asked_number`: for
    "How many players ...?", a count of players) that no passage sentence ((title, text)
    pairs) gives as that kind. Asked "How many players are on a team?" with Volleyball's
    "two teams of six players" and Netball's "two teams of seven players", the chat said
    "There are two players on a team.": every word is the passages', the count is no
    passage's."""
    kind = _asked_kind(message)
    if kind is None:
        return False
    thing = _asked_thing(kind, message)
    given = _answer_numbers(kind, thing, reply or "")
    if given and not holds_the_event(reply, message, [title for title, _ in passages]):
        return True  # a year of another event: "When did he die?" -> "... founded in 1885."
    if not given and kind == "measure":
        # a measure of another dimension: "How hot does it get?" -> "With an area of 9,200,000
        # square kilometres (3,600,000 sq mi), it is the largest hot desert ..."
        return bool(thing) and bool(_measures_of(None, reply or ""))
    if not given and isinstance(thing, Capacity) and _POPULATION.search(reply or ""):
        return True  # "How many people could it hold?" (the Colosseum) -> Rome's population
    if not given:
        # a count of another thing, the thing asked not named: "How many legs do they
        # have?" -> "At least 45,700 spider species have been recorded by taxonomists."
        from rag_dialogue.metrics import content_stems, stem

        return bool(thing) and _counts_something(reply or "") and stem(thing) not in content_stems(reply or "")
    return not states_asked_number(reply, message, [f"{title} {text}" for title, text in passages])


# "How old ...?" asks for an age: a time ("13.8 billion years"), "aged 84", or a year
AGE = "age"
_ASKS_AGE = re.compile(r"\bhow\s+old\b|\bwhat\s+(?:is|was)\s+the\s+age\b", re.IGNORECASE)
_STATED_AGE = re.compile(r"\b(?:aged?|age\s+of)\s+([0-9]+)\b", re.IGNORECASE)  # ("30 years old" is a time)


# a time said in words: a reply to "When did ...?" with one of these may answer it ("in the
# Middle Ages", "during the war", "in late October")
_TIME_WORDS = re.compile(
    r"\b(?:centur(?:y|ies)|millenni(?:um|a)|decades?|years?|months?|weeks?|days?|ago|eras?|ages?|epochs?|periods?"
    r"|dynast(?:y|ies)|reigns?|wars?|times?|spring|summer|autumn|winter|today|now|nowadays|currently|recently"
    r"|ancient|antiquity|medieval|prehistor(?:y|ic)|modern|early|late|during|since|until|before|after|when|then"
    r"|once|morning|evening|night|[0-9]{2,4}['’]?s)\b|\b(?-i:BCE?|AD|CE|January|February|March|April|May|June|July|August"
    r"|September|October|November|December)\b", re.IGNORECASE)


def gives_no_number(reply: str, message: str) -> bool:
    """Whether `reply` states no number at all, nor declines, where `message` asks ("?") for
    a measure, a count or a duration (`asked_number`): "How deep is it?" -> "The biggest
    ocean is the ocean of the Pacific Ocean.". Asked for a date, it gives neither a number
    nor a time in words (`_TIME_WORDS`: "in the Middle Ages"): "When did it start?" of
    the French Revolution -> "It was caused by a combination of social, political, and
    economic factors ...". "How often ...?" asks for a frequency, which a measure does not give:
    "How often should I water them?" (roses) -> "The plants range in size ... up to 7
    metres (23 ft) in height."."""
    from rag_dialogue.metrics import declines

    if "?" not in (message or "") or declines(reply or ""):
        return False
    if _HOW_OFTEN.search(message):
        return not _FREQUENCY.search(reply or "")
    if _ASKS_AGE.search(message):  # "How old is the universe?" -> "... 93 billion light-years in diameter"
        return not _answer_numbers("count", AGE, reply or "")
    kind = asked_number(message)
    if kind == "date":  # a count is no date: "When was it first performed?" -> "... 30 to 100 musicians"
        return not _numbers_of_kind("date", reply or "") and not _TIME_WORDS.search(reply or "")
    if kind == "price":  # "How much does it cost?" -> "... accurate to a tenth of a millibar"
        return not _numbers_of_kind("price", reply or "")
    return kind in ("measure", "count", "duration") and not states_number(reply or "")


def _asked_thing(kind: str, message: str):
    """What a question for a number of `kind` asks the number of: the thing a count counts
    (`counted_thing`), `AGE` for "How old ...?", the dimension a measure measures
    (`asked_dimension`), else None."""
    if kind == "count":
        return AGE if _ASKS_AGE.search(message or "") else counted_thing(message)
    return asked_dimension(message) if kind == "measure" else None


def _answer_numbers(kind: str, thing, text: str) -> set:
    """The numbers in `text` that could answer a question for a number of `kind`: the
    counts of the `thing` counted, dates, measures, or (a count of nothing named: "How
    old ...?") any number but a year."""
    if kind == "frequency":  # "How often ...?"
        return {m.group(0).lower() for m in _STATED_FREQUENCY.finditer(text)}
    if kind == "count" and thing == AGE:  # a time, an age or a year: not "93 billion light-years"
        return {n.replace(",", "") for n in _numbers_of_kind("duration", text) | numbers_in(
            [m.group(1) for m in _STATED_AGE.finditer(text)] + _YEAR.findall(text))}
    if kind == "count" and thing:
        return _counts_of(thing, text)
    if kind == "measure" and thing:
        return {n.replace(",", "") for n in _measures_of(thing, text)}
    return {n.replace(",", "") for n in _numbers_of_kind(kind, text)}


def answering_sentences(message: str, names: Sequence[str], passages: Sequence[Tuple[str, str]]) -> List[str]:
    """The sentences of the passages about what the conversation names (`abstain.is_about`
    their titles), best passage first, that give a number of the kind `message` asks for
    (`asked_number`), and nothing but a number (not "How deep is it, and where?"); for a count
    of a named thing ("How many players ...?"), a count of that thing. Where no passage
    is about it by title, those of the passage that holds most of the names, two at
    least, and more than any other: "How many players are on a soccer team?" takes
    "Association football, more commonly known as football or soccer, ... two teams of
    eleven players", not Volleyball's "two teams of six players". Of the passages about
    it, only those whose titles hold most of the names' words answer."""
    from rag_dialogue.abstain import _ASKS_MORE, _name_stems, asked_verbs, is_about, names_mentioned
    from rag_dialogue.metrics import content_stems, passage_sentences

    kind = _asked_kind(message)
    if kind is None or _ASKS_MORE.search(message):
        return []
    thing = _asked_thing(kind, message)
    # the question's verb tells what the passage must tell of its names, though it names no
    # article: "When did the Titanic sink?" is answered by Sinking of the Titanic's "sank ...
    # on 15 April 1912", not by the film Titanic's "a 1997 ... film"; "When did the Berlin
    # Wall fall?" by "... before the fall of the Berlin Wall in November 1989."
    mentioned = list(names) + sorted(asked_verbs(message) - set(names))
    answering = [(title, [s for s in passage_sentences(text)
                          if _answer_numbers(kind, thing, s) and holds_the_event(s, message, [title, *names])])
                 for title, text in passages]
    about = [(title, sentences) for title, sentences in answering if is_about(names, title)]
    if about:
        # of those, the ones whose titles hold most of the names' words: "How big is a great
        # white shark?" is not answered by Whale shark's "An individual with a length of
        # 18.8 m ...", though Whale shark is about a shark; and of those, the ones whose
        # titles add fewest words of their own: "How many strings does a guitar have?" is
        # not answered by Bass guitar's "four strings" when Guitar's passage is there
        named = _name_stems(mentioned)

        def closeness(title):
            stems = content_stems(title)
            return len(stems & named), -len(stems - named)

        closest = max(closeness(title) for title, _ in about)
        found = [(title, s) for title, sentences in about if closeness(title) == closest for s in sentences]
        if found:
            return _holding_what_is_asked(found, message)
    held = [(names_mentioned(mentioned, title, text), title, sentences)
            for (title, text), (_, sentences) in zip(passages, answering) if sentences]
    best = max((h for h, _, _ in held), default=0)
    tops = [(title, sentences) for h, title, sentences in held if h == best]
    if best < 2 or len(tops) != 1:
        return []
    title, sentences = tops[0]
    return _holding_what_is_asked([(title, s) for s in sentences], message)


def _holding_what_is_asked(found: List[Tuple[str, str]], message: str) -> List[str]:
    """The sentences of `found` ((title, sentence) pairs, best first) that hold the most
    of `message`'s words beyond their title's. "When did the first iPhone come out?" is
    answered by "The first-generation iPhone was announced ... on January 9, 2007, ...",
    not by the sentence ranked above it, "Apple has been the largest vendor of mobile phones
    since 2023." A sentence that speaks of its subject as "it" holds none of the subject's
    words, so the title's words do not count."""
    from rag_dialogue.metrics import content_stems

    asked = content_stems(message)
    held = [len((asked & content_stems(s)) - content_stems(title)) for title, s in found]
    most = max(held)
    return [s for (_, s), h in zip(found, held) if h == most]


def number_check(message: str):
    """Whether a text gives the number `message` asks for, as that kind of number
    (`_answer_numbers`: for "How many works ...?", a count of works): a predicate on
    texts, or None when the message asks for none."""
    kind = asked_number(message)
    if kind is None:
        return None
    thing = _asked_thing(kind, message)
    return lambda text: bool(_answer_numbers(kind, thing, text))


def states_asked_number(reply: str, message: str, sentences: Sequence[str]) -> bool:
    """Whether `reply` gives one of the numbers the `sentences` (`answering_sentences`)
    answer `message` with, as that kind of number: "A basketball team consists of two
    players each" does not answer "How many players ...?" from "two teams of five players
    each"; "built over a period of about 26 years" does not answer "When was it built?"
    from "It was built c. 2600 BC over a period of about 26 years." """
    kind = _asked_kind(message)
    thing = _asked_thing(kind, message)
    answers = set().union(*(_answer_numbers(kind, thing, s) for s in sentences)) if sentences else set()
    return bool(_answer_numbers(kind, thing, reply) & answers)
