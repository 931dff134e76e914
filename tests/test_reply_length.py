"""Ending a reply after its N-th sentence (rag_dialogue/reply_length.py)."""

import pytest
import torch

from rag_dialogue.reply_length import (block_new_sentences, completed_sentences, end_at_line_break, line_break_tokens,
                                       space_led_tokens)


@pytest.mark.parametrize("text, n", [
    ("", 0), ("The Titanic sank", 0), ("The Titanic sank in 1912.", 1),
    ("It is 6.75 km long", 0), ("It is 6.", 1),  # "6." may still become "6.75": the next token decides
    ("It is tall. It is old!", 2), ("Really?! Yes.", 2), ('He said "no." Then left.', 2),
    ("The U.S. Army", 0), ("Dr. Watson came. Mt. Everest is high", 1), ("J. R. R. Tolkien wrote it.", 1),
    ("Wait... what", 1),
])
def test_completed_sentences(text, n):
    assert completed_sentences(text) == n


def test_space_led_tokens(smollm2_tokenizer):
    tok = smollm2_tokenizer
    mask = space_led_tokens(tok, len(tok))
    word, = tok.encode(" the", add_special_tokens=False)
    inner, = tok.encode("the", add_special_tokens=False)
    assert mask[word] and not mask[inner] and not mask[tok.eos_token_id]
    assert mask[tok.encode("\n", add_special_tokens=False)[0]]
    assert 0.3 < mask.float().mean() < 0.9  # most BPE words start with a space, not all


def test_only_rows_past_their_last_sentence_are_blocked():
    space_led = torch.tensor([False, True, True, False])  # ids 1 and 2 start a new word
    logprobs = torch.zeros(3, 4)
    out = block_new_sentences(logprobs, ["One. Two.", "One.", "One. Two"], 2, space_led)
    assert torch.isinf(out[0, 1:3]).all() and torch.isfinite(out[0, [0, 3]]).all()
    assert torch.isfinite(out[1:]).all() and torch.isfinite(logprobs).all()  # the input is kept


def test_line_break_tokens(smollm2_tokenizer):
    tok = smollm2_tokenizer
    blank, other = line_break_tokens(tok, len(tok))
    newline, = tok.encode("\n", add_special_tokens=False)
    blank_line, = tok.encode("\n\n", add_special_tokens=False)
    word, = tok.encode(" the", add_special_tokens=False)
    assert blank[newline] and blank[blank_line] and not blank[word] and not blank[tok.eos_token_id]
    assert not (blank & other).any() and not other[word]


def test_a_line_break_ends_the_reply_with_its_probability():
    blank = torch.tensor([False, True, False, False])  # id 1 is only a line break
    other = torch.tensor([False, False, True, False])  # id 2 writes one among other characters
    logprobs = torch.log(torch.tensor([[0.1, 0.5, 0.2, 0.2], [0.7, 0.1, 0.1, 0.1]]))
    out = end_at_line_break(logprobs, blank, other, end_idx=3)
    assert torch.isinf(out[:, 1:3]).all()
    assert torch.allclose(out[:, 3].exp(), torch.tensor([0.7, 0.2]))  # the end token takes the break's share
    assert torch.allclose(out[:, 0], logprobs[:, 0]) and torch.isfinite(logprobs).all()  # the input is kept
    none = torch.zeros(4, dtype=torch.bool)
    assert end_at_line_break(logprobs, none, none, end_idx=3) is logprobs
