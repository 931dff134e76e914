"""Ending a reply after its N-th sentence (rag_dialogue/reply_length.py)."""

import pytest
import torch

from rag_dialogue.reply_length import block_new_sentences, completed_sentences, space_led_tokens


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
