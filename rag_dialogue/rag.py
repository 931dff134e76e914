"""RAG marginalisation as pure tensor functions (Lewis et al. 2020, eqs. 1-2).

Conventions shared by every function here:

* ``B`` examples, each with ``K`` retrieved passages; generator outputs for the K
  passages of one example are adjacent, so ``seq_logits`` is ``[B*K, T, V]`` and row
  ``b*K + k`` belongs to example ``b``, passage ``k``.
* ``doc_scores`` ``[B, K]`` are unnormalised retrieval scores (query-passage inner
  products); the passage prior is ``p(z_k | x) = softmax_k(doc_scores)``.
* ``seq_logits[:, t]`` scores ``target[:, t]``: the caller has already aligned them
  (decoder input = start token + target[:-1]).
"""

import math

import torch
import torch.nn.functional as F


def _split_docs(seq_logits: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    batch, n_docs = doc_scores.shape
    if seq_logits.size(0) != batch * n_docs:
        raise ValueError(
            f"seq_logits has {seq_logits.size(0)} rows, expected B*K = {batch}*{n_docs}"
        )
    return seq_logits.view(batch, n_docs, *seq_logits.shape[1:])


def _per_doc_target_log_probs(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p_gen(y_t | x, z_k, y_<t) for ``logits`` ``[B, K, T, V]``: ``[B, K, T]``."""
    index = target[:, None, :, None].expand(-1, logits.size(1), -1, 1)
    return logits.gather(-1, index).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def per_passage_target_log_probs(
    seq_logits: torch.Tensor, doc_scores: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """log p_gen(y_t | x, z_k, y_<t) for every passage: ``[B, K, T]`` (``target`` ``[B, T]``)."""
    return _per_doc_target_log_probs(_split_docs(seq_logits, doc_scores).float(), target)


def rag_token_log_probs(seq_logits: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    """RAG-Token next-token distribution, marginalised over passages at every step.

    log p(y_t | x, y_<t) = logsumexp_k [ log p(z_k | x) + log p_gen(y_t | x, z_k, y_<t) ]

    :param seq_logits: ``[B*K, T, V]`` generator logits.
    :param doc_scores: ``[B, K]`` unnormalised passage scores.
    :return: ``[B, T, V]`` log-probabilities (each row sums to one in probability space).
    """
    seq_log_probs = F.log_softmax(_split_docs(seq_logits, doc_scores).float(), dim=-1)
    doc_log_probs = F.log_softmax(doc_scores.float(), dim=1)[:, :, None, None]
    return torch.logsumexp(seq_log_probs + doc_log_probs, dim=1)


def rag_token_next_log_probs(seq_logits: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    """``rag_token_log_probs`` for decoding, computed as a mixture of probabilities.

    Mixing probabilities with one batched matrix product is several times faster
    than a logsumexp across the strided passage axis; tokens whose probability
    underflows float32 under every passage get -inf, which search never picks.

    :param seq_logits: ``[B*K, T, V]`` generator logits (T is 1 while decoding).
    :return: ``[B, T, V]`` log-probabilities.
    """
    batch, n_docs = doc_scores.shape
    probs = F.softmax(seq_logits.float(), dim=-1).view(batch, n_docs, -1)  # [B, K, T*V]
    weights = F.softmax(doc_scores.float(), dim=1).unsqueeze(1)  # [B, 1, K]
    return torch.bmm(weights, probs).view(batch, *seq_logits.shape[1:]).log()


IMPLAUSIBLE = 50.0


def contrast_with_unconditioned(log_probs: torch.Tensor, plain_log_probs: torch.Tensor,
                                alpha: float, plausible: float = 0.1) -> torch.Tensor:
    """Context-aware decoding (Shi et al. 2023): the next-token distribution with the
    passages, sharpened against the generator's without them, among the tokens that are
    plausible with the passages (Li et al. 2023's constraint: at least `plausible` times
    the likeliest token's probability).

    log p'(y_t) = log_softmax[(1 + alpha) log p(y_t | x, z, y_<t) - alpha log p(y_t | x, y_<t)]

    A token the generator would write whatever the passages say (what it knows, or makes
    up, from its weights) loses to one the passages make likely. Without the constraint
    the contrast also favours unlikely tokens that the history happens to make unlikely,
    and names come out garbled ("the Cardigan Welsh Cardigan" for "Corgi", which the
    dialogue had said).

    :param log_probs: ``[B, T, V]`` with the passages (the RAG-Token mixture).
    :param plain_log_probs: ``[B, T, V]`` without passages (finite).
    :param alpha: the contrast's weight (0: ``log_probs`` unchanged).
    :param plausible: tokens below this share of the likeliest token's probability fall
        `IMPLAUSIBLE` nats below their own log-probability.
    :return: ``[B, T, V]`` log-probabilities.
    """
    if alpha == 0:
        return log_probs
    floor = log_probs.max(dim=-1, keepdim=True).values + math.log(plausible)
    contrasted = (1.0 + alpha) * log_probs - alpha * plain_log_probs
    # implausible tokens stay far below, in their own order, but finite: the search still
    # has a way on where blocking closes every plausible one
    return F.log_softmax(torch.where(log_probs < floor, log_probs - IMPLAUSIBLE, contrasted), dim=-1)


def marginalise_tokens(token_log_probs: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    """RAG-Token from per-passage target log-probabilities.

    :param token_log_probs: ``[B, K, T]`` log p_gen(y_t | x, z_k, y_<t).
    :return: ``[B, T]`` log p(y_t | x, y_<t) = logsumexp_k [log p(z_k|x) + token_log_probs].
    """
    doc_log_probs = F.log_softmax(doc_scores.float(), dim=1)[:, :, None]
    return torch.logsumexp(token_log_probs + doc_log_probs, dim=1)


def marginalise_sequences(token_log_probs: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    """RAG-Sequence from per-passage target log-probabilities (pad positions must be 0).

    :param token_log_probs: ``[B, K, T]`` log p_gen(y_t | x, z_k, y_<t).
    :return: ``[B]`` log p(y | x) = logsumexp_k [log p(z_k|x) + sum_t token_log_probs].
    """
    return torch.logsumexp(token_log_probs.sum(-1) + F.log_softmax(doc_scores.float(), dim=1), dim=1)


def rag_token_target_log_probs(
    seq_logits: torch.Tensor, doc_scores: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """``rag_token_log_probs(...)`` read off at ``target`` only: ``[B, T]``.

    Same value, but never materialises the ``[B, K, T, V]`` marginal: gathering the
    target logit before marginalising leaves one logsumexp over the vocabulary per
    row, which is what makes the training step cheap.

    :param target: ``[B, T]`` token ids (pad positions give finite, ignorable values).
    """
    logits = _split_docs(seq_logits, doc_scores).float()  # [B, K, T, V]
    return marginalise_tokens(_per_doc_target_log_probs(logits, target), doc_scores)


def rag_sequence_log_likelihood(
    seq_logits: torch.Tensor, doc_scores: torch.Tensor, target: torch.Tensor, pad_id: int
) -> torch.Tensor:
    """RAG-Sequence log-likelihood: one passage explains the whole response.

    log p(y | x) = logsumexp_k [ log p(z_k | x) + sum_t log p_gen(y_t | x, z_k, y_<t) ]

    :param seq_logits: ``[B*K, T, V]`` generator logits.
    :param doc_scores: ``[B, K]`` unnormalised passage scores.
    :param target: ``[B, T]`` token ids; positions equal to ``pad_id`` are ignored.
    :return: ``[B]`` log-likelihood per example.
    """
    token_log_probs = _per_doc_target_log_probs(_split_docs(seq_logits, doc_scores).float(), target)
    return marginalise_sequences(token_log_probs.masked_fill(target.eq(pad_id)[:, None, :], 0.0), doc_scores)


def passage_posteriors(token_log_probs: torch.Tensor, doc_scores: torch.Tensor) -> torch.Tensor:
    """Which passage each token came from, under RAG-Token.

    p(z_k | x, y_<t, y_t) is proportional to p(z_k | x) p_gen(y_t | x, z_k, y_<t).

    :param token_log_probs: ``[B, K, T]`` log p_gen(y_t | x, z_k, y_<t).
    :param doc_scores: ``[B, K]`` unnormalised passage scores.
    :return: ``[B, T, K]`` posteriors (sum to one over K).
    """
    joint = token_log_probs + F.log_softmax(doc_scores.float(), dim=1)[:, :, None]
    return F.softmax(joint, dim=1).transpose(1, 2)
