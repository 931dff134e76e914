"""Names in a reply come from its passage or the dialogue, never from the generator's memory.

Next to numbers, the facts a grounded model makes up are mostly names: the passage says
McDonald's was founded "in San Bernardino, California" and the reply says "in San
Francisco, California"; it reads "the Pembroke Welsh Corgi" and writes "the
Pembrokeshire Corgis". While decoding, a word that begins with a capital letter inside a
sentence (a name, as a reader takes it) may be written only on the way to a word that the
row's own passage or the dialogue writes with a capital too, letter for letter: not
"Cormi", nor "CORGI" where the passage writes "Corgi". A sentence's first word, "I",
and letters that go on from a digit ("3D") are free. The closed tokens get -inf before the row's softmax, as `grounded_numbers` does
for numbers, so under RAG-Token a name survives by the rows whose passages hold it.

Words are runs of letters: "Disney's" is "Disney" and "'s", "Jean-Paul" is "Jean" and
"Paul". Lowercase words are left free: paraphrase needs them.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from rag_dialogue.grounded_numbers import close_per_row

_WORD = re.compile(r"[^\W\d_]+")
_LEADING_WORD = re.compile(r"^[^\W\d_]+")
_TRAILING_WORD = re.compile(r"[^\W\d_]+$")
# what may come before a sentence's first word: nothing, or an ending (. ! ? : ;) or a line
# break with its closing quotes; then perhaps an opening quote or bracket. A quote inside
# a sentence opens none: "the fairy tale "The Little Prince"" names a tale
_OPENS_SENTENCE = re.compile(r"(?:^|[.!?:;\n][\"'”’)\]]*)\s*[\"“‘(\[]?\s*$")
FREE_WORDS = frozenset({"I", "OK"})


def names_in(texts: Iterable[str]) -> frozenset:
    """The words the texts write with a capital ("St. Louis's beer" -> {"St", "Louis"}),
    less stopwords that only open a sentence: a passage's "There are ..." made "I think it
    was There, but I think it may be There." possible."""
    from rag_dialogue.metrics import stopwords

    common = stopwords()
    return frozenset(m.group(0) for text in texts for m in _WORD.finditer(text or "")
                     if m.group(0)[0].isupper()
                     and not (m.group(0).lower() in common and opens_sentence(text[:m.start()])))


def opens_sentence(text: str) -> bool:
    """Whether a word written after ``text`` is a sentence's first word."""
    return bool(_OPENS_SENTENCE.search(text))


_ENDS_IN_NUMBER = re.compile(r"\d[,.]?$")


def inside_name_or_number(text: str) -> bool:
    """Whether a reply written so far ends where a name or a number may go on: after a
    digit ("1,"), or a capitalised word inside a sentence ("the Cardigan Welsh")."""
    if _ENDS_IN_NUMBER.search(text):
        return True
    last = _TRAILING_WORD.search(text)
    return bool(last) and last.group(0)[0].isupper() and last.group(0) not in FREE_WORDS \
        and not opens_sentence(text[:last.start()])


def unheld_names(reply: str, texts: Iterable[str]) -> set:
    """The names ``reply`` writes (capitalised words inside a sentence, not after a digit)
    that none of ``texts`` writes so: what decoding with names held to the passages
    never writes, save where a row writes another row's name."""
    held = names_in(texts) | FREE_WORDS
    return {m.group(0) for m in _WORD.finditer(reply or "")
            if m.group(0)[0].isupper() and m.group(0) not in held
            and not reply[:m.start()][-1:].isdigit() and not opens_sentence(reply[:m.start()])}


def name_followers(texts: Iterable[str]) -> Dict[str, frozenset]:
    """Per capitalised word of ``texts``, the capitalised words after it in the same run of
    capitalised words (`metrics.capitalised_runs`; "I" and "OK" end a run too): "Charles
    F. Price" gives "Charles" -> {"F", "Price"}."""
    from rag_dialogue.metrics import capitalised_runs

    followers: Dict[str, set] = {}
    for text in texts:
        for run in capitalised_runs(text, ending=FREE_WORDS):
            for i, first in enumerate(run):
                followers.setdefault(first, set()).update(run[i + 1:])
    return {word: frozenset(after) for word, after in followers.items()}


@dataclass(frozen=True)
class AllowedNames:
    """The words a row may write with a capital, and every beginning of one; and those of
    all its example's rows, which a name another row began may go on as."""

    words: frozenset
    beginnings: frozenset
    example: Optional["AllowedNames"] = field(default=None, compare=False, repr=False)
    _closed: Dict = field(default_factory=dict, compare=False, repr=False)
    # per capitalised word, the capitalised words that follow it within one name of the
    # texts ("Jade" -> {"Emperor", "Peak"}): a name goes on only as one of them
    followers: Dict[str, frozenset] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, texts: Iterable[str], example: Optional["AllowedNames"] = None) -> "AllowedNames":
        texts = list(texts)
        words = names_in(texts) | FREE_WORDS
        return cls(words, frozenset(w[:i] for w in words for i in range(1, len(w) + 1)), example,
                   followers=name_followers(texts))

    def closed_starts(self, tokens: "NameTokens") -> torch.Tensor:
        """The pieces that would begin a capitalised word this row may not write (found once)."""
        if "starts" not in self._closed:
            self._closed["starts"] = torch.tensor(
                [i for i, (word, ends) in tokens.starts.items() if not self.admits(word, ends)], dtype=torch.long)
        return self._closed["starts"]

    def closed_after(self, word: str, tokens: "NameTokens") -> torch.Tensor:
        """The pieces that may not go on from ``word``, a name this row holds (found once a
        word: RAG-Token's rows of an example write the same words with the same holder)."""
        key = ("after", word)
        if key not in self._closed:
            self._closed[key] = torch.tensor(
                [i for i, (letters, ends) in tokens.goes_on.items() if not self.admits(word + letters, ends)],
                dtype=torch.long)
        return self._closed[key]

    def closed_starts_after(self, word: str, tokens: "NameTokens") -> torch.Tensor:
        """The pieces that would begin a capitalised word that does not follow ``word``
        within a name of this row's texts: "Mount" may go on as "Mount Tai", not as
        "Mount Emperor" from "Jade Emperor Peak" (found once a word)."""
        key = ("starts after", word)
        if key not in self._closed:
            after = self.followers.get(word, frozenset()) | FREE_WORDS
            begun = {w[:i] for w in after for i in range(1, len(w) + 1)}
            self._closed[key] = torch.tensor(
                [i for i, (letters, ends) in tokens.starts.items() if letters not in (after if ends else begun)],
                dtype=torch.long)
        return self._closed[key]

    def goes_on_in_bytes(self, begun: str) -> bool:
        """Whether a word the row holds goes on from ``begun`` with a letter that the
        vocabulary writes in pieces of bytes ("Zo" -> "Zoë")."""
        return any(w.startswith(begun) and len(w) > len(begun) and not w[len(begun)].isascii() for w in self.words)

    def admits(self, word: str, ends: bool) -> bool:
        """Whether ``word`` may be written: whole if ``ends``, else begun."""
        return word in (self.words if ends else self.beginnings)


class NameTokens:
    """The pieces of a vocabulary that begin a capitalised word after a space, and those
    that go on with a word (begin with a letter), each with its letters as written after
    a word and whether the piece ends its word (letters, then something else)."""

    def __init__(self, tokenizer, vocab_size: int):
        ids = list(range(min(vocab_size, len(tokenizer))))
        anchor = tokenizer.encode("a", add_special_tokens=False)
        before = tokenizer.decode(anchor)
        written = [text[len(before):] for text in tokenizer.batch_decode([anchor + [i] for i in ids])]
        self.starts: Dict[int, Tuple[str, bool]] = {}
        self.goes_on: Dict[int, Tuple[str, bool]] = {}
        self.capital_goes_on: Dict[int, Tuple[str, bool]] = {}  # a word begun after a lone space
        for i, piece in zip(ids, written):
            stripped = piece.lstrip()
            letters = _LEADING_WORD.match(stripped)
            if not letters:
                continue
            entry = (letters.group(0), len(letters.group(0)) < len(stripped))
            if len(stripped) < len(piece):
                if letters.group(0)[0].isupper():
                    self.starts[i] = entry
            else:
                self.goes_on[i] = entry
                if letters.group(0)[0].isupper():
                    self.capital_goes_on[i] = entry
        self.goes_on_ids = torch.tensor(sorted(self.goes_on), dtype=torch.long)
        self.unfinished_bytes = [i for i, piece in zip(ids, written) if "\ufffd" in piece]

    def in_name(self, ids: Sequence[int]) -> bool:
        """Whether token ids end inside a word that begins with a capital ("ĠP emb")."""
        i = len(ids) - 1
        while i >= 0 and ids[i] in self.goes_on:
            i -= 1
        if i >= 0 and ids[i] in self.starts:
            return True
        return i + 1 < len(ids) and ids[i + 1] in self.capital_goes_on


def _going_on(word: str, allowed: AllowedNames, pieces: Dict[int, Tuple[str, bool]]) -> List[int]:
    return [i for i, (letters, ends) in pieces.items() if allowed.admits(word + letters, ends)]


def closed_tokens(text: str, allowed: AllowedNames, tokens: NameTokens) -> Tuple[List, bool]:
    """Groups of token ids (lists or tensors) that a row which has written ``text`` may not
    write next; or, with True, the one group it may write (an unfinished name that can only
    go on as one the row holds)."""
    trailing = _TRAILING_WORD.search(text)
    if trailing is None:
        if opens_sentence(text):
            return [], False
        closed = [allowed.closed_starts(tokens)]
        if text[-1:].isspace():  # a lone space: the next piece begins the word without one
            closed.append([i for i, (letters, ends) in tokens.capital_goes_on.items()
                           if not allowed.admits(letters, ends)])
        return closed, False
    word, before = trailing.group(0), text[:trailing.start()]
    closed = [allowed.closed_starts(tokens)]
    if word[0].isupper() and not before[-1:].isdigit() and not opens_sentence(before):
        # a name another row began goes on, in this row too, only as that row's passage writes
        # it: left free, this row would spell it its own way ("Walt" -> "Waltz"); closed to
        # letters, its little mass left would crown a stray piece ("Bede the Ven$$")
        holder = next((a for a in (allowed, allowed.example) if a is not None and a.admits(word, False)), None)
        if holder is None:  # no row holds it (it began as a sentence's first word): end it
            return closed + [tokens.goes_on_ids], False
        if word not in holder.words:  # only on the way to a word the row holds
            ways_on = _going_on(word, holder, tokens.goes_on)
            bytes_on = tokens.unfinished_bytes if holder.goes_on_in_bytes(word) else []
            return [ways_on + bytes_on], True
        closed.append(holder.closed_after(word, tokens))
        # a name goes on only as a name of its texts does: no "Mount Emperor" of "Mount Tai"
        # and "Jade Emperor Peak", no "Cardigan Welsh Cardigan"
        closed.append(holder.closed_starts_after(word, tokens))
    return closed, False


def close_unstated_names(logits: torch.Tensor, texts: Sequence[str], allowed: Sequence[AllowedNames],
                         tokens: NameTokens) -> torch.Tensor:
    """``logits`` ``[R, V]`` of R generator rows, with -inf where a token would write a
    name that the row's ``allowed`` does not hold, given the row's reply so far
    ``texts[r]``. Returns ``logits`` itself when nothing is closed."""

    def closures():
        for r, (text, row_allowed) in enumerate(zip(texts, allowed)):
            groups, only = closed_tokens(text, row_allowed, tokens)
            groups = [torch.as_tensor(g, dtype=torch.long) for g in groups if len(g)]
            if groups or only:
                yield r, torch.cat(groups) if groups else [], only

    return close_per_row(logits, closures())


def names_per_row(histories: Sequence[str], passages: Sequence[Sequence[Tuple[str, str]]],
                  row_per_passage: bool) -> List[AllowedNames]:
    """Per generator row, in the model's row order, the words it may write with a capital:
    those of its passage (or, with one row per example, of all the example's passages)
    and of its example's dialogue."""
    rows = []
    for history, example in zip(histories, passages):
        texts = [f"{title} {text}" for title, text in example]
        if not row_per_passage:
            rows.append(AllowedNames.of([history, *texts]))
            continue
        whole = AllowedNames.of([history, *texts])
        rows.extend(AllowedNames.of([history, text], whole) for text in texts)
    return rows


def spare_names_from_ngram_blocking(tree, tokens: NameTokens) -> None:
    """Make ParlAI's n-gram blocking (`--beam-block-ngram`) let a name go on as it must.
    Names recur ("the Pembroke Welsh Corgi and the Cardigan Welsh Corgi") and are written
    a piece at a time ("ĠP emb roke"): blocking repeated trigrams forbade "roke" the
    second time, so the reply wrote "Pembrokeshire", or, with names held to the passages,
    had no way on at all (a hypothesis with every token closed, which ParlAI's search
    cannot end). ParlAI's own blocking runs as before, then a hypothesis inside a word that
    begins with a capital gets back the pieces that would continue it (as they were before
    blocking, so closed ones stay closed); a name's first piece and word loops stay blocked."""
    if getattr(tree, "gpu_beam_blocking", False):
        return
    block = tree._block_ngrams

    def block_but_names(ngram_size, logprobs, step=0, if_context_blocking=False):
        rows = [r for r, hyp in enumerate(torch.as_tensor(tree.partial_hyps).tolist()) if tokens.in_name(hyp)]
        if not rows:
            return block(ngram_size, logprobs, step, if_context_blocking)
        rows = torch.tensor(rows, dtype=torch.long, device=logprobs.device).view(-1, 1)
        columns = tokens.goes_on_ids.to(logprobs.device)
        kept = logprobs[rows, columns]
        logprobs = block(ngram_size, logprobs, step, if_context_blocking)
        logprobs[rows, columns] = kept
        return logprobs

    tree._block_ngrams = block_but_names
