"""The RAG model: retrieve -> passage + history contexts -> generate -> marginalise.

`RagModel` implements ParlAI's `TorchGeneratorModel` interface so ParlAI's own tree
search (greedy, beam, nucleus, n-gram blocking) runs on the marginal distribution.
Each example owns R generator rows (one per passage; one for all its passages under
Fusion-in-Decoder); beam search reorders whole examples, and `reorder_*` below turn
example indices into row indices so each row's incremental decoder state follows its beam. What differs between seq2seq
and decoder-only generators lives behind `rag_dialogue.backends`; what differs between
generation types (rows, loss, decoding, attribution) in `rag_dialogue.strategies`.
"""

from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from parlai.core.torch_generator_agent import TorchGeneratorModel

from rag_dialogue.backends import make_backend, select_rows
from rag_dialogue.grounded_names import NameTokens, close_unstated_names, inside_name_or_number, names_per_row
from rag_dialogue.grounded_numbers import (NUMBER_WAIT, NumberTokens, close_unstated_numbers, hold_end_until_number,
                                           number_about, numbers_per_row)
from rag_dialogue.rag import contrast_with_unconditioned, rag_token_log_probs, rag_token_next_log_probs
from rag_dialogue.retrieval.query import without_questions
from rag_dialogue.retrieval.retriever import search_fresh, with_gold
from rag_dialogue.strategies import strategy_for


@dataclass
class RagInput:
    """What the model needs for one batch (built by the agent's batchify).

    history: ``[B, L]`` generator token ids of the dialogue history, pad-filled,
        without special tokens, already truncated to keep the most recent words.
    query: query-encoder tensors (``input_ids``, ``attention_mask``) ``[B, Lq]``.
    gold: ``(title, text)`` of each example's gold passage (gold-knowledge mode).
    passages: ``(title, text)`` passages per example, K each; when given, retrieval is
        skipped (with ``doc_scores`` ``[B, K]``, else a flat prior).
    contexts / context_mask / doc_scores: precomputed generator rows ``[B*K, S]``
        and passage scores ``[B, K]``; when given, retrieval and the strategy's row
        building are skipped (types with one row per passage only).
    said: the dialogue so far as text, per example; retrieved passages it already
        contains are passed over (see `RagModel.retrieve`).
    names: the names each example's message mentions; outside training, passages that
        hold them rank higher (see `RagModel.retrieve`).
    asks_number: per example, the kind of number its message asks for, or None
        (`grounded_numbers.asked_number`); outside
        training, its reply does not end before stating one where a passage about what it
        names has one (`grounded_numbers.number_about`).
    message_query, message_weight: the last message's own query tokens, and the weight
        of its vector beside the whole query's (`--retrieval-message-weight`).
    questions: per example, the message it answers; outside training, where that asks
        for a number, a passage about a name that gives that number ranks higher
        (`grounded_numbers.number_check`), where it asks for a superlative, one that ranks
        first what it asks for (`abstain.superlative_check`), and where it asks for a fact,
        a passage about a name that holds what it asks (`abstain.asked_check`).
    """

    history: Optional[torch.LongTensor] = None
    said: Optional[List[str]] = None
    names: Optional[List[List[str]]] = None
    asks_number: Optional[List[Optional[str]]] = None
    questions: Optional[List[Optional[str]]] = None
    query: Optional[dict] = None
    message_query: Optional[dict] = None
    message_weight: float = 0.0
    gold: Optional[List[Tuple[str, str]]] = None
    passages: Optional[List[List[Tuple[str, str]]]] = None
    contexts: Optional[torch.LongTensor] = None
    context_mask: Optional[torch.Tensor] = None
    doc_scores: Optional[torch.Tensor] = None


class RagEncoderState(NamedTuple):
    gen: object  # the backend's per-row state ([B*R, ...] tensors)
    doc_scores: torch.Tensor  # [B, R] prior over each example's R rows, unnormalised
    # [B, K] differentiable scores of the passages this pass retrieved (the gold-passage
    # loss reads them); the same tensor as doc_scores where each passage is a row; None
    # when nothing was retrieved (no-knowledge, gold, passages or rows given)
    retrieval_scores: Optional[torch.Tensor] = None
    # per generator row, the numbers it may state (`rag_dialogue.grounded_numbers`); None:
    # numbers are free (training, the no-knowledge type, or --numbers-from-passages off)
    numbers: Optional[tuple] = None
    # per example (per beam row once reordered for the search), whether its reply awaits a
    # number it asked for (`grounded_numbers.hold_end_until_number`); None: no example does
    awaited: Optional[tuple] = None
    # per generator row, the words it may write with a capital (`rag_dialogue.grounded_names`);
    # None: names are free (training, the no-knowledge type, or --names-from-passages off)
    names: Optional[tuple] = None
    # context-aware decoding's weight (`rag.contrast_with_unconditioned`); above 0, each
    # example's last row holds no passage (prior -inf: outside the mixture), the contrast
    contrast: float = 0.0

    @property
    def device(self):
        return self.doc_scores.device


@dataclass
class Retrieval:
    """Passages retrieved for one example, best first."""

    passages: list  # of rag_dialogue.retrieval.passages.Passage
    scores: List[float]

    def pairs(self) -> list:
        """The passages as (title, text) pairs, what the rules of abstain and grounded_numbers read."""
        return [(p.title, p.text) for p in self.passages]


class RagModel(TorchGeneratorModel):
    """Query encoder + dense retriever + generator, marginalised per token.

    :param generator: a transformers seq2seq model (BART, T5, ...) or causal LM (Llama, ...).
    :param tokenizer: its tokenizer (turns passages into generator ids).
    :param rag_type: a generation type of `rag_dialogue.strategies` (``token``,
        ``sequence``, ``fid``, ``none``: generator alone, ``gold``: the gold passage).
    :param query_encoder: `TextEncoder` trained jointly (retrieval modes only).
    :param retriever: `Retriever` with the fixed passage index (retrieval modes only).
    :param autocast_bf16: run training steps of the generator under bf16 autocast.
    :param bf16_inference: run evaluation and generation under bf16 autocast.
    :param numbers_from_passages: outside training, a row states only numbers that its
        passages or the dialogue hold (`rag_dialogue.grounded_numbers`).
    :param names_from_passages: likewise for names, words written with a capital inside a
        sentence (`rag_dialogue.grounded_names`).
    :param topic_bonus: outside training, passages whose title the dialogue's first turn
        holds rank higher (`retrieval.query.TOPIC_BONUS`).
    :param context_contrast: outside training, RAG-Token decodes with context-aware
        decoding of this weight (`rag.contrast_with_unconditioned`; 0: off).
    :param include_gold: in training, an example's gold passage takes the last of its
        retrieved places where the search left it out (`retriever.with_gold`).
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
        autocast_bf16: bool = False,
        bf16_inference: bool = False,
        numbers_from_passages: bool = False,
        names_from_passages: bool = False,
        topic_bonus: bool = False,
        context_contrast: float = 0.0,
        include_gold: bool = False,
    ):
        super().__init__(
            padding_idx=special_ids["pad"],
            start_idx=special_ids["start"],
            end_idx=special_ids["end"],
        )
        self.strategy = strategy_for(rag_type)
        self.generator = generator
        self.query_encoder = query_encoder
        self.tokenizer = tokenizer
        self.retriever = retriever
        self.n_docs = n_docs if self.strategy.retrieves else 1
        self.last_retrieval: List[Retrieval] = []
        self._decode_n_docs = 1  # rows per beam row in the incremental state
        self.numbers_from_passages = numbers_from_passages
        self.names_from_passages = names_from_passages
        self.topic_bonus = topic_bonus
        self.context_contrast = context_contrast
        self.include_gold = include_gold
        self._number_tokens = None  # the vocabulary's digit pieces, on first use
        self._name_tokens = None  # its pieces that begin or go on with a word, on first use
        self._ending = None  # its pieces that end a sentence, on first use
        self._specials = {special_ids["pad"], special_ids["start"], special_ids["end"]}
        self.backend = make_backend(generator, tokenizer, special_ids, max_context_len=max_context_len,
                                    passage_truncate=passage_truncate, autocast_bf16=autocast_bf16,
                                    bf16_inference=bf16_inference)

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, query: dict, said: Optional[List[str]] = None, names: Optional[List[List[str]]] = None,
                 questions: Optional[List[Optional[str]]] = None,
                 gold: Optional[List[Optional[Tuple[str, str]]]] = None, message_query: Optional[dict] = None,
                 message_weight: float = 0.0, k: Optional[int] = None) -> Tuple[List[Retrieval], torch.Tensor]:
        """Search the fixed index, then recompute scores in torch so the query encoder trains.

        With ``said`` (the dialogue so far, per example), passages whose text the dialogue
        already contains are passed over for the next best: what was said is in the
        context anyway, and retrieving it again makes the reply repeat it. Outside
        training, the dialogue's questions count for nothing there (`without_questions`). With ``names``
        (per example, the names its message mentions) and outside training, a passage
        that holds them gains a bonus in its rank and in its score (`search_fresh`), more
        if it gives the number its example's message in ``questions`` asks for. With
        ``topic_bonus``, outside training, a passage whose title the dialogue's first turn
        holds gains a bonus too. With ``gold`` (per example, its gold knowledge's (title,
        sentence), or None) and in training, an example whose passages leave the gold one
        out gets it in their last place (`retriever.with_gold`), scored by the same inner
        product.

        ``k`` passages per example (``n_docs`` unless given: a chat looks further for a
        sentence that answers where its own passages hold none).

        :return: retrievals per example, and differentiable ``doc_scores`` ``[B, K]``.
        """
        if self.retriever is None or self.query_encoder is None:
            raise ValueError(f"--rag-type {self.strategy.name} needs --index-dir (a passage index)")
        query_emb = self.query_encoder(**query)  # [B, D]
        if message_query is not None and message_weight:
            # the last message's own vector beside the history's: after "Hi! How are you?"
            # the whole chat's vector found other mountains for "What's the tallest mountain?"
            query_emb = (1 - message_weight) * query_emb + message_weight * self.query_encoder(**message_query)
        # the turn each dialogue opened with (WoW's chosen topic; a chat's first message)
        topics = None if self.training or not said or not self.topic_bonus else [s.split("\n")[0] for s in said]
        if said is not None and not self.training:
            # a question says no fact: the passage that answers "What is the largest lake in
            # Kethmar?" holds most of its words, and is not passed over as said
            said = [without_questions(s) for s in said]
        rows, bonus = search_fresh(self.retriever, query_emb.detach().float().cpu().numpy(), k or self.n_docs, said,
                                   None if self.training else names, None if self.training else questions, topics)
        if gold is not None and self.training:
            rows, put = with_gold(self.retriever, rows, gold)
            bonus[put, -1] = 0.0
        store = self.retriever.store
        passage_emb = torch.from_numpy(self.retriever.index.reconstruct(rows)).to(query_emb)
        doc_scores = torch.einsum("bd,bkd->bk", query_emb, passage_emb) + torch.from_numpy(bonus).to(query_emb)
        retrievals = [
            Retrieval([store[int(r)] for r in row], scores.tolist())
            for row, scores in zip(rows, doc_scores.detach().cpu())
        ]
        return retrievals, doc_scores

    def _contexts(self, history: torch.LongTensor, passages: List[List[Tuple[str, str]]]):
        """Generator inputs ``[B*K, S]`` (and their mask) for K (title, text) passages per example."""
        histories = [[t for t in h if t != self.NULL_IDX] for h in history.tolist()]
        return self.backend.contexts(histories, passages, history.device)

    # ------------------------------------------------------------------ ParlAI API
    def encoder(self, inp: RagInput) -> RagEncoderState:
        """Retrieve (unless given) and encode every passage row (seq2seq encoder or LM prompt)."""
        if isinstance(inp, RagEncoderState):  # already encoded (RAG-Sequence's per-passage search)
            return inp
        if inp.contexts is not None:
            if not self.strategy.row_per_passage:
                raise ValueError(f"--rag-type {self.strategy.name} builds its rows from passages: "
                                 "give RagInput.passages, not contexts")
            contexts, doc_scores = inp.contexts, inp.doc_scores
            mask = inp.context_mask if inp.context_mask is not None else contexts.ne(self.NULL_IDX)
            return RagEncoderState(self.backend.encode(contexts, mask), doc_scores)

        retrieved = []

        def retrieve():
            gold = inp.gold if self.include_gold else None
            self.last_retrieval, scores = self.retrieve(inp.query, inp.said, inp.names, inp.questions, gold,
                                                        inp.message_query, inp.message_weight)
            retrieved.append(scores)
            return [r.pairs() for r in self.last_retrieval], scores

        passages, scores = self.strategy.passages(inp, retrieve)
        histories = [[t for t in h if t != self.NULL_IDX] for h in inp.history.tolist()]
        contrast = self.context_contrast if self.strategy.contrasts and not self.training else 0.0
        if contrast:  # one row more per example, without a passage, outside the mixture
            passages = [list(example) + [("", "")] for example in passages]
            scores = torch.zeros(len(passages), len(passages[0]) - 1, device=inp.history.device) \
                if scores is None else scores
            scores = torch.cat([scores, torch.full_like(scores[:, :1], float("-inf"))], dim=1)
        gen, doc_scores = self.strategy.encode(self.backend, histories, passages, scores, inp.history.device)
        numbers = allowed_names = None
        grounding = self.strategy.grounded and not self.training
        holds_numbers, holds_names = grounding and self.numbers_from_passages, grounding and self.names_from_passages
        if holds_numbers or holds_names:
            said = inp.said or [self.tokenizer.decode(h) for h in histories]
        if holds_numbers:
            numbers = tuple(numbers_per_row(said, passages, self.strategy.row_per_passage))
        if holds_names:  # (`names` below are the names each message mentions)
            allowed_names = tuple(names_per_row(said, passages, self.strategy.row_per_passage))
        awaited = None
        if numbers is not None and inp.asks_number is not None and any(inp.asks_number):
            awaited = tuple(bool(asked) and number_about(asked, names or [], text, example)
                            for asked, names, text, example in zip(inp.asks_number, inp.names or [None] * len(said),
                                                                  said, passages))
            awaited = awaited if any(awaited) else None
        # the retrieval scores only when this pass retrieved (the gold-passage loss reads
        # them beside `last_retrieval`)
        return RagEncoderState(gen, doc_scores, retrieved[0] if retrieved else None, numbers, awaited,
                               allowed_names, contrast)

    def _rows(self, indices: torch.LongTensor, n_docs: int) -> torch.LongTensor:
        """Example indices -> generator row indices (each example owns ``n_docs`` rows)."""
        return (indices[:, None] * n_docs + torch.arange(n_docs, device=indices.device)).view(-1)

    def reorder_encoder_states(self, state: RagEncoderState, indices) -> RagEncoderState:
        indices = torch.as_tensor(indices, dtype=torch.long, device=state.device)
        rows = self._rows(indices, state.doc_scores.size(1))
        scores = state.retrieval_scores
        numbers = None if state.numbers is None else tuple(state.numbers[r] for r in rows.tolist())
        names = None if state.names is None else tuple(state.names[r] for r in rows.tolist())
        awaited = None if state.awaited is None else tuple(state.awaited[i] for i in indices.tolist())
        return RagEncoderState(select_rows(state.gen, rows), state.doc_scores.index_select(0, indices),
                               None if scores is None else scores.index_select(0, indices), numbers, awaited,
                               names, state.contrast)

    def reorder_decoder_incremental_state(self, incr_state, inds):
        # inds are beam rows (examples x beams); the cache has n_docs rows per beam row
        rows = self._rows(torch.as_tensor(inds, device=self.START.device), self._decode_n_docs)
        return self.backend.reorder_incremental(incr_state, rows)

    def _per_row(self, state: RagEncoderState, ys: torch.LongTensor) -> torch.LongTensor:
        n_docs = state.doc_scores.size(1)
        return ys.repeat_interleave(n_docs, dim=0) if n_docs > 1 else ys

    def generator_logits(self, state: RagEncoderState, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced generator logits for every passage row: ``[B*K, T, V]`` scoring ``ys``."""
        return self.backend.forced_logits(state.gen, self._per_row(state, ys))

    def target_log_probs(self, state: RagEncoderState, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced ``log p_gen(y_t | x, z_k, y_<t)`` per passage: ``[B, K, T]`` (0 at pad)."""
        batch, n_docs = state.doc_scores.shape
        return self.backend.target_log_probs(state.gen, self._per_row(state, ys)).view(batch, n_docs, -1)

    def decoder(self, decoder_input, state: RagEncoderState, incr_state=None):
        """One decoding step for ParlAI's tree search.

        Returns the RAG-Token marginal log-probabilities ``[B, 1, V]`` as the "latent"
        (``output`` is the identity; ParlAI's log_softmax of a log-distribution is a no-op).
        """
        self._decode_n_docs = state.doc_scores.size(1)
        logits, incr = self.backend.step(state.gen, self._per_row(state, decoder_input), incr_state)
        if state.contrast:  # before the names and numbers rules: the contrast row holds no passage
            plain = F.log_softmax(logits.view(state.doc_scores.size(0), self._decode_n_docs, *logits.shape[1:])[:, -1]
                                  .float(), dim=-1)
        texts = None
        if state.numbers is not None or state.names is not None:
            texts = self._texts(decoder_input)
            # the rows still being written, as the backend's step kept them (None: all)
            live = getattr(incr, "rows", None)
            logits = self._close_unstated(logits, texts, state, None if live is None else live.tolist())
        log_probs = rag_token_next_log_probs(logits, state.doc_scores)
        if state.contrast:
            # not inside a name or a number: the contrast would turn "the Cardigan Welsh" from
            # "Corgi", which the dialogue had said, and "1,545" into "1, 5,0, 1,54"
            texts = texts or self._texts(decoder_input)
            free = torch.tensor([not inside_name_or_number(t) for t in texts], device=log_probs.device)
            log_probs = torch.where(free[:, None, None],
                                    contrast_with_unconditioned(log_probs, plain, state.contrast), log_probs)
        if state.awaited is not None:
            held = hold_end_until_number(log_probs[:, -1], texts or self._texts(decoder_input), state.awaited,
                                         self._ending_tokens(), NUMBER_WAIT, decoder_input.size(1))
            log_probs = log_probs if held is log_probs[:, -1] else held.unsqueeze(1)
        return log_probs, incr

    def quantize_int8(self) -> int:
        """Generate with int8 weights in the decoder layers and the output layer of a causal
        LM (`rag_dialogue.backends`): for a CPU, outside training only, since the model
        cannot train or be saved afterwards. Returns the decoder layers quantized (0: the
        generator is left as it is, such as BART)."""
        from rag_dialogue import decode_step
        from rag_dialogue.backends import quantize_decoder_layers

        layers = quantize_decoder_layers(self.generator)
        if layers:
            self.backend.quantize_output_layer()
            # most of a step was transformers' general forward around the int8 products
            self.backend.lean_steps = decode_step.supports(self.generator)
        return layers

    def number_tokens(self) -> NumberTokens:
        """The generator vocabulary's digit and separator pieces (found once)."""
        if self._number_tokens is None:
            vocab = self.generator.get_output_embeddings().weight.size(0)
            self._number_tokens = NumberTokens(self.tokenizer, vocab)
        return self._number_tokens

    def _ending_tokens(self) -> torch.BoolTensor:
        """The generator vocabulary's pieces that end a sentence or the reply (found once)."""
        if self._ending is None:
            from rag_dialogue.reply_length import ending_tokens

            vocab = self.generator.get_output_embeddings().weight.size(0)
            self._ending = ending_tokens(self.tokenizer, vocab, [self.END_IDX, self.tokenizer.eos_token_id])
        return self._ending

    def _texts(self, decoder_input) -> List[str]:
        """Each beam row's reply so far, as text."""
        return [self.tokenizer.decode([t for t in ys if t not in self._specials]) for ys in decoder_input.tolist()]

    def name_tokens(self) -> NameTokens:
        """The generator vocabulary's pieces that begin or go on with a word (found once)."""
        if self._name_tokens is None:
            vocab = self.generator.get_output_embeddings().weight.size(0)
            self._name_tokens = NameTokens(self.tokenizer, vocab)
        return self._name_tokens

    def _close_unstated(self, logits, texts, state, live=None):
        """Each row's next-token logits ``[B*R, 1, V]`` with the numbers and names its
        passage lacks closed; ``texts``: each beam row's reply so far; ``live``: the rows
        still being written (None: all); an ended row is left as it is (the search no
        longer reads it)."""
        n_docs = state.doc_scores.size(1)
        rows = list(range(len(texts) * n_docs)) if live is None else live
        every = len(rows) == len(texts) * n_docs
        per_row = [texts[r // n_docs] for r in rows]
        last = logits[:, -1]
        part = closed = last if every else last[rows]
        if state.numbers is not None:
            numbers = state.numbers if every else [state.numbers[r] for r in rows]
            closed = close_unstated_numbers(closed, per_row, numbers, self.number_tokens())
        if state.names is not None:
            names = state.names if every else [state.names[r] for r in rows]
            closed = close_unstated_names(closed, per_row, names, self.name_tokens())
        if closed is part:
            return logits
        dead = ~closed.isfinite().any(-1)  # never a row with no way on: the search could not end it
        if dead.any():
            closed[dead] = part[dead]
        if not every:
            closed, written = last.clone(), closed
            closed[rows] = written
        return closed.unsqueeze(1)

    def output(self, latent):
        return latent

    def decode_forced(self, state: RagEncoderState, ys):
        marginal = rag_token_log_probs(self.generator_logits(state, ys), state.doc_scores)
        return marginal, marginal.argmax(-1)
