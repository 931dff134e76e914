"""The RAG model: retrieve -> `title / text // history` contexts -> generate -> marginalise.

`RagModel` implements ParlAI's `TorchGeneratorModel` interface so ParlAI's own tree
search (greedy, beam, nucleus, n-gram blocking) runs on the marginal distribution.
Every passage of an example is a separate generator row; beam search reorders whole
examples, and `reorder_*` below turn example indices into row indices so each
passage's incremental decoder state follows its beam.
"""

from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from parlai.core.torch_generator_agent import TorchGeneratorModel

from rag_dialogue.rag import rag_token_log_probs, rag_token_next_log_probs

RAG_TYPES = ("token", "sequence", "none", "gold")
RETRIEVAL_TYPES = ("token", "sequence")  # the types that retrieve


@dataclass
class RagInput:
    """What the model needs for one batch (built by the agent's batchify).

    history: ``[B, L]`` generator token ids of the dialogue history, pad-filled,
        without special tokens, already truncated to keep the most recent words.
    query: query-encoder tensors (``input_ids``, ``attention_mask``) ``[B, Lq]``.
    gold: ``(title, text)`` of each example's gold passage (gold-knowledge mode).
    contexts / context_mask / doc_scores: precomputed generator inputs ``[B*K, S]``
        and passage scores ``[B, K]``; when given, retrieval is skipped.
    """

    history: Optional[torch.LongTensor] = None
    query: Optional[dict] = None
    gold: Optional[List[Tuple[str, str]]] = None
    contexts: Optional[torch.LongTensor] = None
    context_mask: Optional[torch.Tensor] = None
    doc_scores: Optional[torch.Tensor] = None


class RagEncoderState(NamedTuple):
    hidden: torch.Tensor  # [B*K, S, H] generator encoder output
    mask: torch.Tensor  # [B*K, S]
    doc_scores: torch.Tensor  # [B, K] unnormalised (log p(z|x) up to a constant)


@dataclass
class Retrieval:
    """Passages retrieved for one example, best first."""

    passages: list  # of rag_dialogue.retrieval.passages.Passage
    scores: List[float]


def context_ids(
    passage_ids: Sequence[int], history_ids: Sequence[int], max_len: int
) -> List[int]:
    """Join passage and history tokens within ``max_len`` (special tokens excluded).

    The history keeps its most recent tokens; the passage gets what is left but at
    least half the budget, so a long history never crowds out the knowledge and the
    newest turn is never cut off.
    """
    passage_budget = min(len(passage_ids), max(max_len - len(history_ids), max_len // 2))
    history_budget = max_len - passage_budget
    history = list(history_ids[-history_budget:]) if history_budget > 0 else []
    return list(passage_ids[:passage_budget]) + history


def special_token_wrapping(tokenizer) -> Tuple[List[int], List[int]]:
    """The special tokens a tokenizer puts before and after a text ([CLS]/[SEP], <s>/</s>, </s>)."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    start = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
    return full[:start], full[start + len(plain) :]


class RagModel(TorchGeneratorModel):
    """Query encoder + dense retriever + seq2seq generator, marginalised per token.

    :param generator: a transformers seq2seq model (BART, T5, ...).
    :param tokenizer: its tokenizer (turns passages into generator ids).
    :param rag_type: ``token`` | ``sequence`` | ``none`` (generator alone) |
        ``gold`` (the gold passage instead of retrieval).
    :param query_encoder: `TextEncoder` trained jointly (retrieval modes only).
    :param retriever: `Retriever` with the fixed passage index (retrieval modes only).
    """

    def __init__(
        self,
        generator,
        tokenizer,
        special_ids: dict,
        rag_type: str = "token",
        n_docs: int = 5,
        max_context_len: int = 256,
        passage_truncate: int = 10**9,
        query_encoder=None,
        retriever=None,
    ):
        super().__init__(
            padding_idx=special_ids["pad"],
            start_idx=special_ids["start"],
            end_idx=special_ids["end"],
        )
        if rag_type not in RAG_TYPES:
            raise ValueError(f"--rag-type must be one of {RAG_TYPES}, not {rag_type!r}")
        self.generator = generator
        self.query_encoder = query_encoder
        self.tokenizer = tokenizer
        self.retriever = retriever
        self.rag_type = rag_type
        self.n_docs = n_docs if rag_type in RETRIEVAL_TYPES else 1
        self.max_context_len = max_context_len
        self.passage_truncate = passage_truncate
        self._separator = tokenizer.encode(" //", add_special_tokens=False)
        self.last_retrieval: List[Retrieval] = []
        self._decode_n_docs = 1  # rows per beam row in the incremental state
        self._passage_token_cache = {}
        self._special_prefix, self._special_suffix = special_token_wrapping(tokenizer)
        self._check_projection()

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, query: dict) -> Tuple[List[Retrieval], torch.Tensor]:
        """Search the fixed index, then recompute scores in torch so the query encoder trains.

        :return: retrievals per example, and differentiable ``doc_scores`` ``[B, K]``.
        """
        if self.retriever is None or self.query_encoder is None:
            raise ValueError(f"--rag-type {self.rag_type} needs --index-dir (a passage index)")
        query_emb = self.query_encoder(**query)  # [B, D]
        _, rows = self.retriever.search_embeddings(
            query_emb.detach().float().cpu().numpy(), self.n_docs
        )
        rows = np.where(rows < 0, rows[:, :1], rows)  # approximate indexes may return -1
        passage_emb = torch.from_numpy(self.retriever.index.reconstruct(rows)).to(query_emb)
        doc_scores = torch.einsum("bd,bkd->bk", query_emb, passage_emb)
        store = self.retriever.store
        retrievals = [
            Retrieval([store[int(r)] for r in row], scores.tolist())
            for row, scores in zip(rows, doc_scores.detach().cpu())
        ]
        return retrievals, doc_scores

    def _passage_tokens(self, title: str, text: str) -> List[int]:
        """``title / text //`` as generator ids, the passage cut at ``passage_truncate``."""
        key = (title, text)
        ids = self._passage_token_cache.get(key)
        if ids is None:
            ids = []
            if title or text:
                passage = self.tokenizer.encode(f"{title} / {text}", add_special_tokens=False)
                ids = passage[: self.passage_truncate] + self._separator
            if len(self._passage_token_cache) < 200_000:
                self._passage_token_cache[key] = ids
        return ids

    def _contexts(self, history: torch.LongTensor, passages: List[List[Tuple[str, str]]]):
        """Generator inputs ``[B*K, S]`` for K (title, text) passages per example."""
        prefix, suffix = self._special_prefix, self._special_suffix
        budget = self.max_context_len - len(prefix) - len(suffix)
        rows = []
        for hist, example_passages in zip(history.tolist(), passages):
            hist = [t for t in hist if t != self.NULL_IDX]
            for title, text in example_passages:
                ids = context_ids(self._passage_tokens(title, text), hist, budget)
                rows.append(prefix + ids + suffix)
        width = max(len(r) for r in rows)
        out = torch.full((len(rows), width), self.NULL_IDX, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out.to(history.device)

    # ------------------------------------------------------------------ ParlAI API
    def encoder(self, inp: RagInput) -> RagEncoderState:
        """Retrieve (unless given) and run the generator encoder over every passage."""
        if isinstance(inp, RagEncoderState):  # already encoded (RAG-Sequence's per-passage search)
            return inp
        if inp.contexts is not None:
            contexts, doc_scores = inp.contexts, inp.doc_scores
            mask = inp.context_mask if inp.context_mask is not None else contexts.ne(self.NULL_IDX)
        else:
            batch = inp.history.size(0)
            if self.rag_type in RETRIEVAL_TYPES:
                self.last_retrieval, doc_scores = self.retrieve(inp.query)
                passages = [[(p.title, p.text) for p in r.passages] for r in self.last_retrieval]
            elif self.rag_type == "gold":
                if inp.gold is None:
                    raise ValueError("--rag-type gold needs the teacher's gold passage (checked_sentence)")
                passages = [[g] for g in inp.gold]
                doc_scores = None
            else:
                passages = [[("", "")] for _ in range(batch)]
                doc_scores = None
            if doc_scores is None:
                doc_scores = torch.zeros(batch, 1, device=inp.history.device)
            contexts = self._contexts(inp.history, passages)
            mask = contexts.ne(self.NULL_IDX)
        hidden = self.generator.get_encoder()(input_ids=contexts, attention_mask=mask)
        return RagEncoderState(hidden.last_hidden_state, mask, doc_scores)

    def _rows(self, indices: torch.LongTensor, n_docs: int) -> torch.LongTensor:
        """Example indices -> generator row indices (each example owns ``n_docs`` rows)."""
        return (indices[:, None] * n_docs + torch.arange(n_docs, device=indices.device)).view(-1)

    def reorder_encoder_states(self, state: RagEncoderState, indices) -> RagEncoderState:
        indices = torch.as_tensor(indices, dtype=torch.long, device=state.hidden.device)
        rows = self._rows(indices, state.doc_scores.size(1))
        return RagEncoderState(
            state.hidden.index_select(0, rows),
            state.mask.index_select(0, rows),
            state.doc_scores.index_select(0, indices),
        )

    def reorder_decoder_incremental_state(self, incr_state, inds):
        # inds are beam rows (examples x beams); the cache has n_docs rows per beam row.
        # ParlAI only ever reorders beams within their own example, and every beam of
        # an example attends to the same passages, so the cross-attention cache is
        # already right: reorder the self-attention cache alone.
        rows = self._rows(torch.as_tensor(inds, device=self.START.device), self._decode_n_docs)
        incr_state.self_attention_cache.reorder_cache(rows)
        return incr_state

    def generator_hidden(self, state: RagEncoderState, decoder_input, past=None):
        """Decoder states for every passage row ``[B*K, t, H]``, and the updated cache."""
        n_docs = state.doc_scores.size(1)
        if n_docs > 1:
            decoder_input = decoder_input.repeat_interleave(n_docs, dim=0)
        out = self.generator.get_decoder()(
            input_ids=decoder_input,
            encoder_hidden_states=state.hidden,
            encoder_attention_mask=state.mask,
            past_key_values=past,
            use_cache=past is not None or not self.training,
        )
        return out.last_hidden_state, out.past_key_values

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """The generator's output layer, with the bias fused into the matrix product.

        BART keeps its vocabulary bias in a separate buffer (``final_logits_bias``)
        and T5 may scale decoder states first; `_check_projection` verifies this
        against the generator's own forward once, at construction.
        """
        if getattr(self.generator.config, "scale_decoder_outputs", False):
            hidden = hidden * self.generator.config.d_model**-0.5
        head = self.generator.get_output_embeddings()
        bias = getattr(self.generator, "final_logits_bias", None)
        return F.linear(hidden, head.weight, head.bias if bias is None else bias.view(-1))

    def _check_projection(self):
        """Fail loudly if `generator_hidden` + `project` differ from the generator's forward."""
        was_training = self.generator.training
        self.generator.eval()
        ids = torch.tensor([[self.START_IDX, self.END_IDX]], device=self.START.device)
        with torch.no_grad():
            hidden = self.generator.get_encoder()(input_ids=ids).last_hidden_state
            state = RagEncoderState(hidden, torch.ones_like(ids), hidden.new_zeros(1, 1))
            ours = self.project(self.generator_hidden(state, ids)[0])
            theirs = self.generator(input_ids=ids, decoder_input_ids=ids).logits
        self.generator.train(was_training)
        if not torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4):
            raise ValueError(
                f"unsupported generator {type(self.generator).__name__}: its output layer "
                "is not a (biased) projection of the decoder states"
            )

    def generator_logits(self, state: RagEncoderState, decoder_input, past=None):
        """Raw generator logits for every passage row: ``[B*K, t, V]``."""
        hidden, past = self.generator_hidden(state, decoder_input, past)
        return self.project(hidden), past

    def target_log_probs(self, state: RagEncoderState, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced ``log p_gen(y_t | x, z_k, y_<t)`` per passage: ``[B, K, T]``.

        The output layer runs only at non-pad target positions (pad positions give 0),
        which is where most of a training step's time goes.
        """
        batch, n_docs = state.doc_scores.shape
        hidden, _ = self.generator_hidden(state, self.forced_decoder_input(ys))
        targets = ys.repeat_interleave(n_docs, dim=0)
        keep = targets.ne(self.NULL_IDX)
        logits = self.project(hidden[keep])
        out = hidden.new_zeros(targets.shape, dtype=torch.float)
        out[keep] = -F.cross_entropy(logits.float(), targets[keep], reduction="none")
        return out.view(batch, n_docs, -1)

    def decoder(self, decoder_input, state: RagEncoderState, incr_state=None):
        """One decoding step for ParlAI's tree search.

        Returns the RAG-Token marginal log-probabilities ``[B, t, V]`` as the "latent"
        (``output`` is the identity; ParlAI's log_softmax of a log-distribution is a no-op).
        """
        if incr_state is not None:
            decoder_input = decoder_input[:, -1:]
        self._decode_n_docs = state.doc_scores.size(1)
        logits, past = self.generator_logits(state, decoder_input, incr_state)
        return rag_token_next_log_probs(logits[:, -1:], state.doc_scores), past

    def output(self, latent):
        return latent

    def forced_decoder_input(self, ys: torch.LongTensor) -> torch.LongTensor:
        """Teacher forcing input: start token + ys[:-1], aligned with ``ys``."""
        return self._get_initial_forced_decoder_input(ys.size(0), ys[:, :-1])

    def decode_forced(self, state: RagEncoderState, ys):
        logits, _ = self.generator_logits(state, self.forced_decoder_input(ys))
        marginal = rag_token_log_probs(logits, state.doc_scores)
        return marginal, marginal.argmax(-1)
