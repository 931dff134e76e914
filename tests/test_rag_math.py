"""The marginalisation against transformers' reference RAG on identical tiny weights."""

import pytest
import torch
import torch.nn.functional as F

from rag_dialogue.rag import (
    IMPLAUSIBLE,
    contrast_with_unconditioned,
    rag_sequence_log_likelihood,
    rag_token_log_probs,
    rag_token_target_log_probs,
)

B, K, T, V = 2, 3, 5, 11


@pytest.fixture
def logits_and_scores():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(B * K, T, V, generator=g),
        torch.randn(B, K, generator=g),
        torch.randint(1, V, (B, T), generator=g),
    )


def test_rag_token_is_a_distribution_and_matches_the_definition(logits_and_scores):
    seq_logits, doc_scores, _ = logits_and_scores
    out = rag_token_log_probs(seq_logits, doc_scores)
    assert out.shape == (B, T, V)
    assert torch.allclose(out.exp().sum(-1), torch.ones(B, T), atol=1e-5)
    # by hand for one cell: sum_k p(k) p(v | k)
    p_doc = F.softmax(doc_scores[1], 0)
    p_tok = F.softmax(seq_logits[K : 2 * K, 2], -1)  # example 1, position 2
    assert torch.allclose(out[1, 2].exp(), (p_doc[:, None] * p_tok).sum(0), atol=1e-6)


def test_target_log_probs_equal_gathered_marginal(logits_and_scores):
    seq_logits, doc_scores, target = logits_and_scores
    full = rag_token_log_probs(seq_logits, doc_scores).gather(-1, target[..., None]).squeeze(-1)
    assert torch.allclose(rag_token_target_log_probs(seq_logits, doc_scores, target), full, atol=1e-5)


def test_rag_sequence_by_hand_and_pad_ignored(logits_and_scores):
    seq_logits, doc_scores, target = logits_and_scores
    target = target.clone()
    target[0, -2:] = 0  # pad
    out = rag_sequence_log_likelihood(seq_logits, doc_scores, target, pad_id=0)
    lp = F.log_softmax(seq_logits, -1).view(B, K, T, V)
    expected = []
    for b in range(B):
        per_doc = []
        for k in range(K):
            s = sum(lp[b, k, t, target[b, t]] for t in range(T) if target[b, t] != 0)
            per_doc.append(s + F.log_softmax(doc_scores[b], 0)[k])
        expected.append(torch.logsumexp(torch.stack(per_doc), 0))
    assert torch.allclose(out, torch.stack(expected), atol=1e-5)


def test_passage_posteriors_sum_to_one_and_follow_the_likelier_passage(logits_and_scores):
    from rag_dialogue.rag import passage_posteriors

    seq_logits, doc_scores, target = logits_and_scores
    seq_logits = seq_logits.clone()
    seq_logits[1, 0, target[0, 0]] += 20.0  # passage 1 of example 0 is sure of token 0
    token_log_probs = F.log_softmax(seq_logits, -1).view(B, K, T, V).gather(
        -1, target[:, None, :, None].expand(-1, K, -1, 1)).squeeze(-1)
    post = passage_posteriors(token_log_probs, doc_scores)
    assert post.shape == (B, T, K)
    assert torch.allclose(post.sum(-1), torch.ones(B, T), atol=1e-5)
    assert post[0, 0].argmax().item() == 1


def test_shape_mismatch_is_a_clear_error(logits_and_scores):
    seq_logits, doc_scores, _ = logits_and_scores
    with pytest.raises(ValueError, match="B\\*K"):
        rag_token_log_probs(seq_logits[:-1], doc_scores)


def test_next_token_mixture_equals_logsumexp_form(logits_and_scores):
    from rag_dialogue.rag import rag_token_next_log_probs

    seq_logits, doc_scores, _ = logits_and_scores
    assert torch.allclose(
        rag_token_next_log_probs(seq_logits, doc_scores), rag_token_log_probs(seq_logits, doc_scores),
        atol=1e-5,
    )


def test_the_contrast_sharpens_toward_what_the_passages_make_likely():
    # with the passages: a 0.5, b 0.4, c 0.1 ... ; without: a 0.8 (the generator's own guess)
    with_passages = torch.tensor([[[0.5, 0.4, 0.06, 0.04]]]).log()
    without = torch.tensor([[[0.8, 0.1, 0.05, 0.05]]]).log()
    out = contrast_with_unconditioned(with_passages, without, alpha=0.5)
    assert out.shape == (1, 1, 4) and torch.allclose(out.exp().sum(-1), torch.ones(1, 1))
    assert out[0, 0].argmax() == 1  # b: what the passages, not the weights, make likely
    # by the definition, among the plausible tokens a, b, c (at least a tenth of the likeliest's 0.5)
    raw = 1.5 * with_passages - 0.5 * without
    assert torch.allclose(out[0, 0, :3], F.log_softmax(raw[0, 0, :3], -1), atol=1e-4)
    # d (0.04 < 0.05) is implausible: far below, though its contrast alone would lift it
    assert torch.allclose(out[0, 0, 3] - out[0, 0, 2], (with_passages[0, 0, 3] - IMPLAUSIBLE) - raw[0, 0, 2], atol=1e-4)
    assert contrast_with_unconditioned(with_passages, without, alpha=0.0) is with_passages
    # a token the passages close (numbers, names) stays closed
    closed = with_passages.clone()
    closed[..., 2] = float("-inf")
    assert contrast_with_unconditioned(closed, without, alpha=0.5)[0, 0, 2] == float("-inf")
