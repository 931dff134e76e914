"""The supervised retrieval loss: passage scores towards the passage that holds the gold
knowledge (Wizard of Wikipedia's `checked_sentence`), as DPR trains its question encoder
on gold passages. Pure functions; knowledge selection (`selection.py`) and RAG or FiD
training (`--retrieval-gold-loss`) both use them."""

import torch


def gold_cross_entropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of passage scores towards each example's gold passage.

    :param scores: ``[B, K]`` unnormalised passage scores (differentiable).
    :param targets: ``[B]`` position of the gold passage among the K, or -100 (ignored).
    :return: scalar loss; 0 (still differentiable) when no example has its gold.
    """
    if not targets.ne(-100).any():
        return scores.sum() * 0.0
    return torch.nn.functional.cross_entropy(scores.float(), targets, ignore_index=-100)


def gold_targets(passages: list, golds: list) -> list[int]:
    """Each example's gold position among its passages (`(title, text)` lists), -100 where
    the gold sentence ``(title, sentence)`` is not among them or the example has none:
    the targets of `gold_cross_entropy`, for knowledge selection and RAG training alike."""
    from rag_dialogue.metrics import gold_passage_rank

    ranks = [None if gold is None else gold_passage_rank(candidates, *gold)
             for candidates, gold in zip(passages, golds)]
    return [-100 if rank is None else rank for rank in ranks]


def selection_loss(query_emb: torch.Tensor, passage_emb: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`gold_cross_entropy` of the inner products of ``[B, D]`` queries with their
    ``[B, K, D]`` fixed candidate passages."""
    return gold_cross_entropy(torch.einsum("bd,bkd->bk", query_emb, passage_emb), targets)
