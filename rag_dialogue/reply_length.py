"""Ending a reply after its N-th sentence, decided during generation.

Once the text so far has completed N sentences, the next token may not start a new
word: the reply then either goes on inside its last token run (the "75" of "6.75", a
closing quote) or ends. Nothing is generated and then cut, so a streamed reply never
shows words it takes back, and no decoding time goes to sentences that are dropped.
"""

import re
from typing import List

import torch

# an abbreviation's full stop ends no sentence ("Dr. Watson", "Mt. Everest", "e.g. tea")
ABBREVIATIONS = frozenset(
    "mr mrs ms dr st mt jr sr prof vs etc eg ie no nos approx ca cf fig jan feb mar apr jun "
    "jul aug sep sept oct nov dec inc ltd co corp dept est gen gov sen rep rev".split())
_END = re.compile(r"([^\s.!?]*)([.!?]+)[\"')\]]*(?=\s|$)")


def completed_sentences(text: str) -> int:
    """How many sentences ``text`` has completed: terminators followed by a space or the
    end, leaving out initials ("U.S.", "J. R. R.") and common abbreviations."""
    count = 0
    for match in _END.finditer(text):
        word = match.group(1).rstrip(".").split(".")[-1]
        if match.group(2) == "." and (len(word) == 1 and word.isalpha() or word.lower() in ABBREVIATIONS):
            continue
        count += 1
    return count


def _pieces_where(tokenizer, vocab_size: int, wanted) -> torch.BoolTensor:
    """``[V]``: the token ids whose raw piece (as the vocabulary stores it) is `wanted`."""
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    pieces: List[str] = tokenizer.convert_ids_to_tokens(list(range(min(vocab_size, len(tokenizer)))))
    for i, piece in enumerate(pieces):
        if piece and wanted(piece):
            mask[i] = True
    return mask


def space_led_tokens(tokenizer, vocab_size: int) -> torch.BoolTensor:
    """``[V]``: the token ids whose text starts with whitespace (a new word), for BPE
    (``Ġ``/``Ċ``) and SentencePiece (``▁``) vocabularies alike."""
    return _pieces_where(tokenizer, vocab_size, lambda piece: piece[0] in "ĠĊ▁ĉ" or piece[0].isspace())


_LINE_BREAK = ("\n", "Ċ", "<0x0A>")
_BLANK = frozenset(" \t\r\nĊĠĉč▁")


def line_break_tokens(tokenizer, vocab_size: int) -> tuple:
    """Two ``[V]`` masks: the token ids whose raw piece is only whitespace with a line
    break in it ("Ċ", "ĊĊ", "<0x0A>"), and those that write one among other characters
    (".Ċ")."""
    def breaks(piece: str) -> bool:
        return any(mark in piece for mark in _LINE_BREAK)

    def blank(piece: str) -> bool:
        return piece == "<0x0A>" or set(piece) <= _BLANK

    return (_pieces_where(tokenizer, vocab_size, lambda piece: breaks(piece) and blank(piece)),
            _pieces_where(tokenizer, vocab_size, lambda piece: breaks(piece) and not blank(piece)))


def end_at_line_break(logprobs: torch.Tensor, blank_breaks: torch.BoolTensor,
                      other_breaks: torch.BoolTensor, end_idx: int) -> torch.Tensor:
    """``logprobs`` ``[B, V]`` where a line break ends the reply: the probability of the
    pieces that are only a line break (``blank_breaks``, ``[V]``) goes to the end token
    ``end_idx``, and the pieces that write one among other characters (``other_breaks``)
    are closed. ParlAI delimits a dialogue's turns by line breaks, so a reply with one
    would read back as two turns; a causal LM that writes one has begun another turn or a
    list ("... members, including:\n\n- Darryll Jones (Touring bassist)")."""
    size = logprobs.size(-1)
    blank, other = blank_breaks[:size].to(logprobs.device), other_breaks[:size].to(logprobs.device)
    if not (blank.any() or other.any()):
        return logprobs
    ended = logprobs.clone()
    if blank.any():
        ended[:, end_idx] = torch.logaddexp(logprobs[:, end_idx], logprobs[:, blank].logsumexp(-1))
    ended[:, blank | other] = float("-inf")
    return ended


def block_new_sentences(logprobs: torch.Tensor, texts: List[str], max_sentences: int,
                        space_led: torch.BoolTensor) -> torch.Tensor:
    """``logprobs`` ``[B, V]`` with new-word tokens at ``-inf`` in the rows whose text
    ``texts[b]`` has completed ``max_sentences`` sentences (the end token stays open)."""
    done = [b for b, text in enumerate(texts) if completed_sentences(text) >= max_sentences]
    if not done:
        return logprobs
    logprobs = logprobs.clone()
    rows = torch.tensor(done, device=logprobs.device)
    blocked = space_led.to(logprobs.device)[: logprobs.size(-1)]
    logprobs[rows[:, None], blocked.nonzero().view(1, -1)] = float("-inf")
    return logprobs


def ending_tokens(tokenizer, vocab_size: int, end_ids) -> torch.BoolTensor:
    """``[V]``: the token ids that end a sentence or the reply: the end tokens ``end_ids``
    and every piece that writes ".", "!", "?" or a line break."""
    mask = _pieces_where(tokenizer, vocab_size, lambda piece: any(c in piece for c in ".!?\nĊ"))
    for i in end_ids:
        if i is not None and 0 <= i < vocab_size:
            mask[i] = True
    return mask
