"""One strategy per generation type (`--rag-type`): how a type uses its passages.

Each class decides, for its type, the passages of each example and the generator rows
it builds from them, its loss, its decoding (with RAG-Sequence's re-ranking) and its
attribution. `strategy_for(name)` is the one place a type is chosen; the model and the
agent call the strategy's methods and never compare the name again.

To add a type: a class here with every method of `Strategy`, its entry in `STRATEGIES`,
and its recipes (`opt_presets/<family>_<condition>.yaml`).

The math is in `rag_dialogue.rag` (pure functions); the generator kinds (seq2seq,
causal LM) are behind `rag_dialogue.backends`.
"""

import abc
from typing import Callable, List, Optional, Tuple

import torch

from rag_dialogue.backends import select_rows
from rag_dialogue.rag import marginalise_sequences, marginalise_tokens, passage_posteriors

Passages = List[List[Tuple[str, str]]]  # (title, text) per passage, per example


class Strategy(abc.ABC):
    """What a generation type decides. Every method is abstract: a type lacking one fails
    when it is built, not halfway through a run."""

    name: str
    retrieves: bool  # searches the index (needs --index-dir; the query encoder trains)
    streams: bool  # the tree search's best partial hypothesis becomes the reply (chat streams it)
    row_per_passage: bool = True  # each passage its own generator row (precomputed rows then fit)
    grounded: bool = True  # reads passages, so its numbers may be held to them (--numbers-from-passages)
    # decodes its passages' mixture step by step, so a row without passage can contrast it
    # (--context-contrast, `rag.contrast_with_unconditioned`)
    contrasts: bool = False

    @abc.abstractmethod
    def passages(self, inp, retrieve: Callable) -> Tuple[Passages, Optional[torch.Tensor]]:
        """The passages of each example and their differentiable scores ``[B, K]`` (None:
        unscored). ``retrieve()`` searches the index (a retrieving type calls it)."""

    @abc.abstractmethod
    def encode(self, backend, histories: List[List[int]], passages: Passages,
               scores: Optional[torch.Tensor], device) -> Tuple[object, torch.Tensor]:
        """The generator rows of a batch, encoded: the backend's row state and the passage
        scores ``[B, R]`` over each example's R rows (its prior in the marginal)."""

    @abc.abstractmethod
    def loss(self, token_log_probs: torch.Tensor, doc_scores: torch.Tensor, notnull: torch.Tensor):
        """Negative log-likelihood from ``log p_gen(y_t | row, y_<t)`` ``[B, R, T]`` (0 at pad).

        :return: ``nll`` ``[B]`` and the per-token ``[B, T]`` it sums (None when the type
            has no per-token likelihood, as RAG-Sequence)."""

    @abc.abstractmethod
    def generate(self, agent, batch, beam_size: int, max_ts: int, prefix_tokens, search: Callable):
        """Decoding: ``search(batch, beam_size, max_ts, prefix_tokens)`` is ParlAI's tree search
        over the model's marginal; returns what `TorchGeneratorAgent._generate` returns."""

    @abc.abstractmethod
    def attribution(self, token_log_probs: torch.Tensor, doc_scores: torch.Tensor) -> Optional[torch.Tensor]:
        """Which row each response token came from, ``[B, T, R]``; None where the type has no
        passage variable to attribute to."""


# ---------------------------------------------------------------------- shared pieces


def _blank(inp) -> Passages:
    return [[("", "")] for _ in range(inp.history.size(0))]


def _given_or_retrieved(inp, retrieve):
    if inp.passages is not None:  # given (tests, benches): retrieval is skipped
        scores = inp.doc_scores
        if scores is None:
            scores = torch.zeros(len(inp.passages), len(inp.passages[0]), device=inp.history.device)
        return inp.passages, scores
    return retrieve()


def _per_passage_rows(backend, histories, passages, scores, device):
    """One generator row per (example, passage): RAG's layout."""
    state = backend.encode(*backend.contexts(histories, passages, device))
    if scores is None:
        scores = torch.zeros(len(passages), len(passages[0]), device=device)
    return state, scores


def _token_loss(token_log_probs, doc_scores, notnull):
    per_token = -marginalise_tokens(token_log_probs, doc_scores) * notnull
    return per_token.sum(-1), per_token


# ---------------------------------------------------------------------- the types


class NoKnowledge(Strategy):
    """The generator alone: one row per example, an empty passage."""

    name, retrieves, streams = "none", False, True
    grounded = False  # the baseline without knowledge: its numbers stay its own

    def passages(self, inp, retrieve):
        return _blank(inp), None

    def encode(self, backend, histories, passages, scores, device):
        return _per_passage_rows(backend, histories, passages, scores, device)

    def loss(self, token_log_probs, doc_scores, notnull):
        return _token_loss(token_log_probs, doc_scores, notnull)

    def generate(self, agent, batch, beam_size, max_ts, prefix_tokens, search):
        return search(batch, beam_size, max_ts, prefix_tokens)

    def attribution(self, token_log_probs, doc_scores):
        return None


class GoldKnowledge(Strategy):
    """The teacher's gold passage (checked_sentence) instead of retrieval: an upper bound."""

    name, retrieves, streams = "gold", False, True

    def passages(self, inp, retrieve):
        if inp.gold is None:
            raise ValueError("--rag-type gold needs the teacher's gold passage (checked_sentence)")
        return [[g] for g in inp.gold], None

    def encode(self, backend, histories, passages, scores, device):
        return _per_passage_rows(backend, histories, passages, scores, device)

    def loss(self, token_log_probs, doc_scores, notnull):
        return _token_loss(token_log_probs, doc_scores, notnull)

    def generate(self, agent, batch, beam_size, max_ts, prefix_tokens, search):
        return search(batch, beam_size, max_ts, prefix_tokens)

    def attribution(self, token_log_probs, doc_scores):
        return None


class RagToken(Strategy):
    """RAG-Token (Lewis et al. 2020, eq. 2): the K passages' next-token distributions mixed
    by the passage prior at every step; tree search runs on the mixture."""

    name, retrieves, streams = "token", True, True
    contrasts = True

    def passages(self, inp, retrieve):
        return _given_or_retrieved(inp, retrieve)

    def encode(self, backend, histories, passages, scores, device):
        return _per_passage_rows(backend, histories, passages, scores, device)

    def loss(self, token_log_probs, doc_scores, notnull):
        return _token_loss(token_log_probs, doc_scores, notnull)

    def generate(self, agent, batch, beam_size, max_ts, prefix_tokens, search):
        return search(batch, beam_size, max_ts, prefix_tokens)

    def attribution(self, token_log_probs, doc_scores):
        return passage_posteriors(token_log_probs, doc_scores)


class RagSequence(Strategy):
    """RAG-Sequence (Lewis et al. 2020, eq. 1): one passage explains the whole response.
    Decoding searches under each passage, then ranks the union by p(y|x) (section 3.2)."""

    name, retrieves = "sequence", True
    streams = False  # the reply is chosen only after every passage's search

    def passages(self, inp, retrieve):
        return _given_or_retrieved(inp, retrieve)

    def encode(self, backend, histories, passages, scores, device):
        return _per_passage_rows(backend, histories, passages, scores, device)

    def loss(self, token_log_probs, doc_scores, notnull):
        return -marginalise_sequences(token_log_probs, doc_scores), None

    def attribution(self, token_log_probs, doc_scores):
        # the per-token posterior shows where each part of a reply is best supported
        return passage_posteriors(token_log_probs, doc_scores)

    def generate(self, agent, batch, beam_size, max_ts, prefix_tokens, search):
        model = agent.model
        state = model.encoder(*agent._encoder_input(batch))
        bsz, n_docs = state.doc_scores.shape
        # every (example, passage) pair becomes an example of its own, with a prior of one
        # (and each waits for a number where its example does)
        per_pair = state._replace(doc_scores=state.doc_scores.new_zeros(bsz * n_docs, 1),
                                  retrieval_scores=None,
                                  awaited=None if state.awaited is None
                                  else tuple(a for a in state.awaited for _ in range(n_docs)))
        expanded = type(batch)(
            batchsize=bsz * n_docs,
            text_vec=batch.text_vec.repeat_interleave(n_docs, 0),
            full_text_vec=None if batch.get("full_text_vec") is None
            else batch.full_text_vec.repeat_interleave(n_docs, 0),
            precomputed_state=per_pair,
        )
        if prefix_tokens is not None:
            prefix_tokens = prefix_tokens.repeat_interleave(n_docs, 0)
        _, beams = search(expanded, beam_size, max_ts, prefix_tokens)

        thorough = agent.opt.get("rag_sequence_decoding", "fast") == "thorough"
        doc_log_probs = torch.log_softmax(state.doc_scores.float(), dim=1)
        per_example = []  # (candidates, pairs) of each example
        for b in range(bsz):
            produced_by = {}  # hypothesis tokens -> passages whose search produced it
            for k in range(n_docs):
                for tokens, _, _ in beams[b * n_docs + k].get_rescored_finished(n_best=beam_size):
                    produced_by.setdefault(_strip(tokens, agent.START_IDX), set()).add(k)
            candidates = list(produced_by)
            per_example.append((candidates, [(c, k) for c, hyp in enumerate(candidates)
                                             for k in (range(n_docs) if thorough else sorted(produced_by[hyp]))]))
        all_ll = _pair_log_likelihoods(agent, per_pair, [(b * n_docs + k, candidates[c])
                                                         for b, (candidates, pairs) in enumerate(per_example)
                                                         for c, k in pairs]).tolist()
        ranked, offset = [], 0
        for b, (candidates, pairs) in enumerate(per_example):
            ll, offset = all_ll[offset:offset + len(pairs)], offset + len(pairs)
            scores = torch.full((len(candidates), n_docs), float("-inf"))
            for (c, k), value in zip(pairs, ll):
                scores[c, k] = value + doc_log_probs[b, k].item()
            totals = torch.logsumexp(scores, dim=1)
            order = totals.argsort(descending=True).tolist()
            ranked.append(RankedHypotheses([(torch.tensor(candidates[i]), totals[i], None) for i in order]))
        return [r.get_rescored_finished()[0] for r in ranked], ranked


class FusionInDecoder(Strategy):
    """Fusion-in-Decoder (Izacard and Grave 2021; FiD-RAG of Shuster et al. 2021).

    The K retrieved passages make one generator row per example: a seq2seq encoder reads
    each ``passage // history`` on its own and the decoder attends to all K encodings at
    once; a causal LM reads the K passages in one prompt with one KV cache. The decoder
    combines the passages itself, so there is no passage prior in the likelihood: the loss
    is the generator's own, and decoding is a plain search.

    The retriever: the passage scores do not enter FiD's likelihood, so it sends the query
    encoder no gradient. FiD-RAG's recipes here train it with the gold-passage loss
    (`--retrieval-gold-loss`, the cross-entropy towards the retrieved passage holding the
    wizard's checked sentence) in the same steps, rather than taking a retriever trained
    by RAG first and keeping it: the gold loss is a direct signal the data already gives,
    costs one query encoding per step, and leaves FiD free of another model's training, so
    it starts from the same gold-knowledge model as RAG-Token with its own step budget.
    Without gold labels (a chat) the query encoder is kept as given, e.g. a RAG model's
    (`--query-encoder`).
    """

    name, retrieves, streams = "fid", True, True
    row_per_passage = False

    def passages(self, inp, retrieve):
        return _given_or_retrieved(inp, retrieve)

    def encode(self, backend, histories, passages, scores, device):
        state = backend.encode_fused(histories, passages, device)
        return state, torch.zeros(len(passages), 1, device=device)  # one row per example

    def loss(self, token_log_probs, doc_scores, notnull):
        return _token_loss(token_log_probs, doc_scores, notnull)

    def generate(self, agent, batch, beam_size, max_ts, prefix_tokens, search):
        return search(batch, beam_size, max_ts, prefix_tokens)

    def attribution(self, token_log_probs, doc_scores):
        return None


# ---------------------------------------------------------------------- the registry

STRATEGIES = {cls.name: cls for cls in (RagToken, RagSequence, NoKnowledge, GoldKnowledge, FusionInDecoder)}
RAG_TYPES = tuple(STRATEGIES)


def strategy_for(rag_type: str) -> Strategy:
    """The strategy of a `--rag-type`; an unknown type is an error that names the known ones."""
    if rag_type not in STRATEGIES:
        raise ValueError(f"--rag-type must be one of {', '.join(RAG_TYPES)}, not {rag_type!r}")
    return STRATEGIES[rag_type]()


# ---------------------------------------------------------------------- RAG-Sequence helpers


class RankedHypotheses:
    """Stands in for a ParlAI TreeSearch after RAG-Sequence re-ranking."""

    def __init__(self, hypotheses):
        self._hypotheses = hypotheses

    def get_rescored_finished(self, n_best=None):
        return self._hypotheses[:n_best] if n_best else self._hypotheses


def _strip(tokens, start_id: int) -> tuple:
    tokens = tokens.tolist()
    return tuple(tokens[1:] if tokens and tokens[0] == start_id else tokens)


# rows of one forced pass when re-ranking: a pass holds [rows, T, 49k] logits in memory
_PAIRS_PER_PASS = 64


def _pair_log_likelihoods(agent, per_pair, pairs) -> torch.Tensor:
    """log p(y | x, z) ``[P]`` for each (row of `per_pair`, hypothesis tokens) of ``pairs``,
    in forced passes of up to `_PAIRS_PER_PASS` pairs (a pass per example ran a few rows)."""
    out = []
    for start in range(0, len(pairs), _PAIRS_PER_PASS):
        chunk = pairs[start:start + _PAIRS_PER_PASS]
        rows = torch.tensor([row for row, _ in chunk], device=per_pair.device)
        state = per_pair._replace(gen=select_rows(per_pair.gen, rows), doc_scores=per_pair.doc_scores.index_select(0, rows))
        target, _ = agent._pad_tensor([list(tokens) for _, tokens in chunk], is_label=True)
        with torch.no_grad():
            out.append(agent.model.target_log_probs(state, target.to(rows.device)).sum(-1)[:, 0])
    return torch.cat(out) if out else torch.zeros(0)
