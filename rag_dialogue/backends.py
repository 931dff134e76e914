"""The generator seam: one interface over seq2seq (BART, T5) and decoder-only (Llama, SmolLM2) models.

`RagModel` lays out every retrieved passage of every example as one generator *row*
(``R = B*K`` rows) and asks a backend for per-row logits; the marginalisation in
`rag_dialogue.rag` never sees which kind of generator produced them.

* Seq2seq: the encoder reads ``passage // history``; the decoder starts from the
  decoder start token. Incremental decoding caches self- and cross-attention.
* Causal LM: each row is one prompt through the model's chat template (the passage
  as the system message, the dialogue as the user message), left-padded so every
  row ends where the response begins. The "encoder state" is the prompt's KV cache
  and the logits of its last position, which predict the first response token; the
  decoder start token is virtual. Loss counts response tokens only.

Every method takes and returns row-major tensors: ``[R, ...]``.
"""

import functools
import inspect
import warnings
from dataclasses import dataclass, fields, replace
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from rag_dialogue.decode_step import decode_step

_PASSAGE, _HISTORY = "\x00PASSAGE\x00", "\x00HISTORY\x00"


def select_rows(state, rows: torch.LongTensor):
    """A copy of a state dataclass with every row-major tensor field index-selected by ``rows``."""
    changes = {}
    for f in fields(state):
        value = getattr(state, f.name)
        if isinstance(value, torch.Tensor):
            changes[f.name] = value.index_select(0, rows)
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):  # per-layer (k, v)
            changes[f.name] = tuple(tuple(t.index_select(0, rows) for t in layer) for layer in value)
    return replace(state, **changes)


def _is_identity(rows: torch.Tensor, n: int) -> bool:
    return rows.numel() == n and bool((rows == torch.arange(n, device=rows.device)).all())


def context_ids(passage_ids: Sequence[int], history_ids: Sequence[int], max_len: int) -> List[int]:
    """Join passage and history tokens within ``max_len`` (special tokens excluded).

    The history keeps its most recent tokens; the passage gets what is left but at
    least half the budget, so a long history never crowds out the knowledge and the
    newest turn is never cut off.
    """
    passage_budget = min(len(passage_ids), max(max_len - len(history_ids), max_len // 2))
    history_budget = max_len - passage_budget
    history = list(history_ids[-history_budget:]) if history_budget > 0 else []
    return list(passage_ids[:passage_budget]) + history


# how a passage leads its generator row: "Beer / Beer is brewed from cereal grains ..."
PASSAGE_SEPARATOR = " / "


_HEADER_LEAD = 2  # words a copied header may have before its title


def without_passage_header(reply: str, titles) -> str:
    """`reply` without a leading "title / " of one of its passages' `titles`, a word or two
    before the title included: the layout of the generator's input, which a reply sometimes
    copies ("Beer / Beer is brewed from cereal grains ..."; 10 of the 1,280 replies of the
    demo's evaluation; "Orvieda Festival of Lanterns of Orvieda / Participants release ..."
    in a chat)."""
    head, separator, rest = reply.partition(PASSAGE_SEPARATOR)
    if separator and rest.strip() and any(_a_header(head.strip(), t.strip()) for t in titles if t and t.strip()):
        return rest.lstrip()
    return reply


def _a_header(head: str, title: str) -> bool:
    """`head` is `title`, or the title after a word or two of its own ("Orvieda Festival of
    Lanterns of Orvieda"), as a copied header may stutter; "I like Beer" is no header."""
    if not head.endswith(title):
        return False
    lead = head[:-len(title)].split()
    return len(lead) <= _HEADER_LEAD and set(w.lower() for w in lead) <= set(title.lower().split())


def special_token_wrapping(tokenizer) -> Tuple[List[int], List[int]]:
    """The special tokens a tokenizer puts before and after a text ([CLS]/[SEP], <s>/</s>, </s>)."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    start = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
    return full[:start], full[start + len(plain) :]


def _pad(rows: List[List[int]], pad_id: int, left: bool, device) -> Tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        span = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, span] = torch.tensor(r, dtype=torch.long)
        mask[i, span] = True
    return ids.to(device), mask.to(device)


def _cache_of(output):
    return output.cache if hasattr(output, "cache") else output.past_key_values


@functools.lru_cache(maxsize=None)
def _cache_argument(module_class) -> str:
    # transformers renamed `past_key_values` to `cache` in 5.2x; take whichever it knows
    return "cache" if "cache" in inspect.signature(module_class.forward).parameters else "past_key_values"


def _call_with_cache(module, cache, **kwargs):
    return module(**{_cache_argument(type(module)): cache}, **kwargs)


def bf16_setting(value):
    """An `--bf16-*` option: true, false or auto (as parsed from a command line or a recipe)."""
    text = str(value).strip().lower()
    if text == "auto":
        return text
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none"):
        return False
    raise ValueError(f"a bf16 option takes true, false or auto, not {value!r}")


def bf16_is_fast() -> bool:
    """True where bfloat16 matrix products run natively (CUDA, or a CPU with AVX512-BF16 or
    AMX). On an AVX2-only CPU PyTorch emulates them: a training step of the embedded recipe
    ran about 3x slower under bf16 autocast than in fp32 there."""
    if torch.cuda.is_available():
        return True
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def use_bf16(value) -> bool:
    """Whether an `--bf16-*` option turns bf16 autocast on here: `auto` only where it is fast."""
    setting = bf16_setting(value)
    return bf16_is_fast() if setting == "auto" else setting


class Int8Product(torch.nn.Module):
    """An int8 copy of a linear layer's `weight` ``[out, in]`` (and `bias`): dynamic
    quantization, activations quantized per product, per tensor. One scale per output
    channel keeps the numbers a passage states (per-tensor scales turned "64 squares" into
    "8 squares"). It is what torch.ao's `quantize_dynamic` makes of the layer with a
    per-channel qconfig (the same observer, rounding and product, so the same outputs bit
    for bit), built from the tensors with one weight packing rather than three (its module
    first packs zero weights of the full size): quantizing a causal LM's layers took 4 s of
    the chat's loading. The tensors given are left as they were."""

    def __init__(self, weight: torch.Tensor, bias: Optional[torch.Tensor] = None):
        super().__init__()
        from torch.ao.nn.quantized.modules.utils import _quantize_weight

        weight = weight.detach().float()
        observer = torch.ao.quantization.per_channel_dynamic_qconfig.weight()
        observer(weight)
        bias = None if bias is None else bias.detach().float()
        with warnings.catch_warnings():
            # torch 2.13 warns, once per process, that its qint8 tensors will go in a later
            # release; the chat's console is no place for it (the pinned torch has them)
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
            quantized = _quantize_weight(weight, observer)
        self._packed = torch.ops.quantized.linear_prepack(quantized, bias)

    def forward(self, x):
        # the product takes fp32 only; under bf16 inference (CPUs with AVX512-BF16) the
        # activations arrive in bf16 and leave in it
        return torch.ops.quantized.linear_dynamic(x.float(), self._packed, reduce_range=True).to(x.dtype)


def _one_new_token(x: torch.Tensor) -> bool:
    """`x` ``[R, 1, H]``: a decoding step, one new token per row."""
    return x.dim() == 3 and x.size(1) == 1 and not torch.is_grad_enabled()


class DecodeInt8Linear(torch.nn.Module):
    """A linear layer that decodes (one new token per row) with int8 weights and runs
    everything else (prefill, teacher forcing, training) with its float ones.

    Decoding a few rows is bound by reading the weights, and int8 reads a quarter of fp32's.
    A prompt is another matter: its activations are quantized per tensor, so the massive
    activations of a few tokens set the scale for all of them. Prefill in int8 raised the
    RAG-Token model's perplexity on valid unseen from 2.2 to 6.5 (bench/bench_grounding.py).

    `shared` (with `part`): the int8 product of several layers that read the same input
    (`SharedInt8Product`); this layer's output is its `part`-th slice."""

    def __init__(self, linear: torch.nn.Linear, shared: "SharedInt8Product | None" = None, part: int = 0):
        super().__init__()
        self.linear = linear
        self.int8 = Int8Product(linear.weight, linear.bias) if shared is None else None
        self.shared, self.part = shared, part

    def forward(self, x):
        if not _one_new_token(x):
            return self.linear(x)
        return self.int8(x) if self.shared is None else self.shared.output(x, self.part)


class SharedInt8Product:
    """One int8 product for linear layers that read the same input (an attention's q, k and
    v; a gated MLP's gate and up): their weights stacked, the product sliced. A decoding
    step's int8 product costs about 0.1 ms however narrow it is (the activations are
    quantized for each), so three products in one save two of those. Each slice equals its
    layer's own int8 product: the weights are scaled per output channel and the input is
    quantized the same way. The last input is kept by identity: a new tensor, a new product."""

    def __init__(self, linears):
        with torch.no_grad():
            weight = torch.cat([l.weight for l in linears])
            bias = None if linears[0].bias is None else torch.cat([l.bias for l in linears])
        self.int8 = Int8Product(weight, bias)
        self.widths = [l.out_features for l in linears]
        self._input, self._parts = None, None

    def output(self, x, part: int):
        if x is not self._input:
            self._input, self._parts = x, self.int8(x).split(self.widths, dim=-1)
        return self._parts[part]


# Linear layers of one module that read the same input (Llama, Mistral, Qwen2 and their kin).
_SAME_INPUT = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def quantize_decoder_layers(generator, share: bool = True) -> int:
    """Int8 decoding for the linear layers of a causal LM's decoder layers (see
    `DecodeInt8Linear`; with `share`, layers that read the same input share one product):
    generation on a CPU only. Returns the number of layers changed (0 for a model without `model.layers`,
    such as BART). The output layer is the backend's (`_Backend.quantize_output_layer`)."""
    layers = getattr(getattr(generator, "model", None), "layers", None)
    if layers is None:
        return 0
    for layer in layers:
        for parent in list(layer.modules()):
            children = dict(parent.named_children())
            for names in _SAME_INPUT if share else ():
                linears = [children.get(n) for n in names]
                if all(isinstance(l, torch.nn.Linear) for l in linears) and \
                        len({(l.in_features, l.bias is not None) for l in linears}) == 1:
                    shared = SharedInt8Product(linears)
                    for part, (name, linear) in enumerate(zip(names, linears)):
                        setattr(parent, name, DecodeInt8Linear(linear, shared, part))
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear):
                    setattr(parent, name, DecodeInt8Linear(child))
    return len(layers)


class _Backend:
    """What both kinds share: passage tokenisation with a cache, the output projection.

    A kind defines `contexts`, `encode`, `encode_fused`, `forced_hidden`, `step` and
    `reorder_incremental` on its own state."""

    _separator: List[int] = []  # tokens after each passage (a seq2seq input's " //")
    bf16_head_copy = True  # see `_head_weight` (bench/bench_eval.py --before-head-cast switches it off)

    def __init__(self, generator, tokenizer, special_ids: dict, max_context_len: int,
                 passage_truncate: int, autocast_bf16: bool = False, bf16_inference: bool = False):
        self.generator = generator
        self.tokenizer = tokenizer
        self.pad_id, self.start_id, self.end_id = special_ids["pad"], special_ids["start"], special_ids["end"]
        self.max_context_len = max_context_len
        self.passage_truncate = passage_truncate
        self.autocast_bf16 = autocast_bf16
        self.bf16_inference = bf16_inference
        self._passage_token_cache = {}
        self._int8_head = None  # the output layer with int8 weights (generation only), once asked
        self._bf16_head = (None, None)  # (which weight and version it copies, its bf16 copy)

    def _autocast(self):
        """bf16 autocast on the CPU, for training steps and (separately) for inference."""
        training = self.generator.training and torch.is_grad_enabled()
        enabled = self.autocast_bf16 if training else self.bf16_inference
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)

    def _passage_tokens(self, title: str, text: str) -> List[int]:
        key = (title, text)
        ids = self._passage_token_cache.get(key)
        if ids is None:
            ids = []
            if title or text:
                passage = self.tokenizer.encode(f"{title}{PASSAGE_SEPARATOR}{text}", add_special_tokens=False)
                ids = passage[: self.passage_truncate] + self._separator
            if len(self._passage_token_cache) < 200_000:
                self._passage_token_cache[key] = ids
        return ids

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer, with a seq2seq vocabulary bias fused into the matrix product."""
        config = self.generator.config
        if getattr(config, "scale_decoder_outputs", False):
            hidden = hidden * config.d_model**-0.5
        if self._int8_head is not None and _one_new_token(hidden):
            return self._int8_head(hidden.float())
        head = self.generator.get_output_embeddings()
        bias = getattr(self.generator, "final_logits_bias", None)
        return F.linear(hidden, self._head_weight(head.weight), head.bias if bias is None else bias.view(-1))

    def _head_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """The output layer's weight, or under bf16 autocast without autograd its bf16 copy,
        made once per version of the weight. Autocast casts the 49k x H matrix again at
        every call, and a decoding step calls it once: without the copy an evaluation took
        1.1x as long (no knowledge 1.33x; bench/bench_eval.py --before-head-cast). The
        products are the same: autocast multiplies in bf16 either way."""
        if (not self.bf16_head_copy or weight.dtype != torch.float32 or weight.device.type != "cpu"
                or torch.is_grad_enabled()
                or not torch.is_autocast_enabled("cpu") or torch.get_autocast_dtype("cpu") != torch.bfloat16):
            return weight
        key = (weight.data_ptr(), weight._version)
        if self._bf16_head[0] != key:
            self._bf16_head = (key, weight.detach().to(torch.bfloat16))
        return self._bf16_head[1]

    def quantize_output_layer(self) -> None:
        """Decode through an int8 copy of the output layer (see `DecodeInt8Linear`; the input
        embeddings it may share stay float). A causal LM's 49k-row output layer took a
        fifth of a decoding step in fp32 and a tenth of that in int8."""
        head = self.generator.get_output_embeddings()
        bias = getattr(self.generator, "final_logits_bias", None)
        bias = head.bias if bias is None else bias.view(-1)
        self._int8_head = Int8Product(head.weight, bias)

    def forced_hidden(self, state, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced decoder states ``[R, T, H]`` whose projection scores ``ys``."""
        raise NotImplementedError

    def target_log_probs(self, state, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced ``log p_gen(y_t | row context, y_<t)``: ``[R, T]`` (0 at pad targets).

        The output layer runs only at non-pad targets, where a training step spends
        most of its time otherwise.
        """
        hidden = self.forced_hidden(state, ys)
        keep = ys.ne(self.pad_id)
        out = hidden.new_zeros(ys.shape, dtype=torch.float)
        with self._autocast():
            logits = self.project(hidden[keep])
        out[keep] = -F.cross_entropy(logits.float(), ys[keep], reduction="none")
        return out

    def forced_logits(self, state, ys: torch.LongTensor) -> torch.Tensor:
        """Teacher-forced logits ``[R, T, V]``: row r, position t scores ``ys[r, t]``."""
        return self.project(self.forced_hidden(state, ys))


# ---------------------------------------------------------------------- seq2seq


@dataclass
class Seq2SeqState:
    hidden: torch.Tensor  # [R, S, H] encoder output
    mask: torch.Tensor  # [R, S]


class Seq2SeqBackend(_Backend):
    """BART, T5 and friends: the encoder reads ``title / passage // history``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._separator = self.tokenizer.encode(" //", add_special_tokens=False)
        self._prefix, self._suffix = special_token_wrapping(self.tokenizer)
        self.check_projection()

    def contexts(self, histories: List[List[int]], passages: List[List[Tuple[str, str]]], device):
        budget = self.max_context_len - len(self._prefix) - len(self._suffix)
        rows = [
            self._prefix + context_ids(self._passage_tokens(t, x), hist, budget) + self._suffix
            for hist, example in zip(histories, passages) for t, x in example
        ]
        return _pad(rows, self.pad_id, left=False, device=device)

    def encode(self, ids: torch.LongTensor, mask: torch.Tensor) -> Seq2SeqState:
        with self._autocast():
            hidden = self.generator.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        return Seq2SeqState(hidden, mask)

    def encode_fused(self, histories: List[List[int]], passages: List[List[Tuple[str, str]]], device) -> Seq2SeqState:
        """Fusion-in-Decoder: each ``passage // history`` encoded on its own row, then an
        example's K encodings laid end to end, so the decoder attends to all at once.
        Returns one row per example: hidden ``[B, K*S, H]``, mask ``[B, K*S]`` (each
        passage's padding stays masked where it falls)."""
        n_docs = len(passages[0])
        if any(len(p) != n_docs for p in passages):
            raise ValueError("Fusion-in-Decoder needs the same number of passages for every example")
        state = self.encode(*self.contexts(histories, passages, device))
        rows, width, size = state.hidden.shape
        return Seq2SeqState(state.hidden.reshape(rows // n_docs, n_docs * width, size),
                            state.mask.reshape(rows // n_docs, n_docs * width))

    def decoder_hidden(self, state: Seq2SeqState, decoder_input, past=None):
        with self._autocast():
            out = _call_with_cache(
                self.generator.get_decoder(), past,
                input_ids=decoder_input, encoder_hidden_states=state.hidden,
                encoder_attention_mask=state.mask,
                use_cache=past is not None or not self.generator.training,
            )
        return out.last_hidden_state, _cache_of(out)

    def forced_input(self, ys: torch.LongTensor) -> torch.LongTensor:
        start = ys.new_full((ys.size(0), 1), self.start_id)
        return torch.cat([start, ys[:, :-1]], dim=1)

    def forced_hidden(self, state: Seq2SeqState, ys: torch.LongTensor) -> torch.Tensor:
        return self.decoder_hidden(state, self.forced_input(ys))[0]

    def step(self, state: Seq2SeqState, decoder_input: torch.LongTensor, incr=None):
        """Logits ``[R, 1, V]`` of the next token and the new incremental state."""
        if incr is not None:
            decoder_input = decoder_input[:, -1:]
        hidden, past = self.decoder_hidden(state, decoder_input, incr)
        return self.project(hidden[:, -1:]), past

    def reorder_incremental(self, incr, rows: torch.LongTensor):
        # ParlAI only ever reorders beams within their own example, and every beam of an
        # example attends to the same passages, so the cross-attention cache is already
        # right: reorder the self-attention cache alone.
        incr.self_attention_cache.reorder_cache(rows)
        return incr

    def check_projection(self):
        """Fail loudly if `decoder_hidden` + `project` differ from the generator's own forward."""
        gen = self.generator
        was_training = gen.training
        gen.eval()
        ids = torch.tensor([[self.start_id, self.end_id]], device=gen.device)
        with torch.no_grad():
            state = self.encode(ids, torch.ones_like(ids))
            ours = self.project(self.decoder_hidden(state, ids)[0])
            theirs = gen(input_ids=ids, decoder_input_ids=ids).logits
        gen.train(was_training)
        if not torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4):
            raise ValueError(f"unsupported generator {type(gen).__name__}: its output layer "
                             "is not a (biased) projection of the decoder states")


# ---------------------------------------------------------------------- causal LM


@dataclass
class CausalState:
    ids: torch.LongTensor  # [R, S] prompt, left-padded
    mask: torch.Tensor  # [R, S]
    cache: Optional[tuple] = None  # per layer (keys, values) [R, H_kv, S, D], after a prefill
    last_logits: Optional[torch.Tensor] = None  # [R, V]: the first response token's logits


@dataclass
class CausalIncremental:
    cache: object  # transformers DynamicCache, grown one token per step
    mask: torch.Tensor  # [L, S + t]
    next_position: torch.Tensor  # [L]
    # the search's rows that cache, mask and positions hold, in order ([L]); None: all R.
    # A row whose reply has ended is dropped (`_without_ended_rows`).
    rows: Optional[torch.Tensor] = None


# what one more pass through the layers costs, in token positions of compute (its Python
# and the smaller matrix products): a few long rows are not split off for less
_GROUP_OVERHEAD = 64


def length_groups(lengths: Sequence[int], overhead: Optional[int] = None) -> List[List[int]]:
    """Rows grouped by length so that padding each group to its own longest row costs least.

    A RAG batch lays out K passages per example, and passages differ in length: padded to
    the batch's longest row, half the prompt positions of a RAG-Token training step were
    padding (bench/bench_stages.py). Rows are sorted by length and cut where it pays
    (dynamic programming over the cut points); a group costs ``rows x longest + overhead``.
    Returns lists of row indices, shortest group first; one group when cutting does not pay.
    """
    overhead = _GROUP_OVERHEAD if overhead is None else overhead
    order = sorted(range(len(lengths)), key=lambda r: lengths[r])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: least cost of the j shortest rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]
        for i in range(j):
            cost = best[i] + (j - i) * longest + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding (what `generate` computes from the mask)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


class CausalLMBackend(_Backend):
    """Decoder-only LMs: one chat-template prompt per passage, the response after it.

    `lean_steps`: decoding steps run `decode_step.decode_step` rather than the model's own
    forward (set with int8 decoding, where the architecture allows)."""

    lean_steps = False
    # evaluation's teacher-forced pass in groups of rows by response length
    # (`forced_logits`), and decoding steps only for the rows still being written
    # (`_without_ended_rows`); bench/bench_eval.py switches them off to compare
    group_forced_rows = True
    drop_ended_rows = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._with_passage = self._template_pieces(with_passage=True)
        self._without_passage = self._template_pieces(with_passage=False)
        self.check_projection()

    def _template_pieces(self, with_passage: bool) -> List[List[int]]:
        """Token ids of the prompt around the passage and history slots.

        Rendered once from the tokenizer's chat template with placeholders, so any chat
        model's own format is used; a tokenizer without one gets plain newlines.
        """
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            messages = [{"role": "user", "content": _HISTORY}]
            if with_passage:
                messages.insert(0, {"role": "system", "content": _PASSAGE})
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = (_PASSAGE + "\n\n" if with_passage else "") + _HISTORY + "\n"
        if with_passage:
            before, rest = text.split(_PASSAGE)
            middle, after = rest.split(_HISTORY)
            pieces = [before, middle, after]
        else:
            before, after = text.split(_HISTORY)
            pieces = [before, after]
        return [tok.encode(p, add_special_tokens=False) if p else [] for p in pieces]

    def contexts(self, histories: List[List[int]], passages: List[List[Tuple[str, str]]], device):
        rows = []
        for hist, example in zip(histories, passages):
            for title, text in example:
                passage = self._passage_tokens(title, text)
                if passage:
                    # the budget is for passage + history; the chat template comes on top
                    before, middle, after = self._with_passage
                    joined = context_ids(passage, hist, self.max_context_len)
                    split = min(len(passage), len(joined))
                    rows.append(before + joined[:split] + middle + joined[split:] + after)
                else:
                    before, after = self._without_passage
                    rows.append(before + list(hist[-self.max_context_len:]) + after)
        return _pad(rows, self.pad_id, left=True, device=device)

    def encode_fused(self, histories: List[List[int]], passages: List[List[Tuple[str, str]]], device) -> CausalState:
        """Fusion-in-Decoder for a decoder-only LM: an example's K passages in one prompt (the
        system message, one passage a line), then the history: one row per example, one
        KV cache. The history keeps as many tokens as beside its longest passage in a
        per-passage prompt, so FiD and RAG-Token read the same history."""
        newline = self.tokenizer.encode("\n", add_special_tokens=False)
        rows = []
        for hist, example in zip(histories, passages):
            blocks = [b for b in (self._passage_tokens(t, x) for t, x in example) if b]
            if not blocks:
                before, after = self._without_passage
                rows.append(before + list(hist[-self.max_context_len:]) + after)
                continue
            longest = max(len(b) for b in blocks)
            keep = max(self.max_context_len - longest, self.max_context_len // 2)
            knowledge = [t for i, b in enumerate(blocks) for t in (newline if i else []) + b]
            before, middle, after = self._with_passage
            rows.append(before + knowledge + middle + list(hist[-keep:] if keep > 0 else []) + after)
        return self.encode(*_pad(rows, self.pad_id, left=True, device=device))

    @property
    def _body(self):
        return self.generator.get_decoder() if hasattr(self.generator, "get_decoder") else self.generator.model

    def encode(self, ids: torch.LongTensor, mask: torch.Tensor) -> CausalState:
        """Training: the prompt is run together with the response later. Otherwise: prefill now."""
        state = CausalState(ids, mask)
        return state if self.generator.training and torch.is_grad_enabled() else self.prefill(state)

    def prefill(self, state: CausalState) -> CausalState:
        if state.cache is not None:
            return state
        groups = length_groups(state.mask.sum(1).tolist())
        if len(groups) == 1:
            layers, last_logits = self._prefill_rows(state.ids, state.mask)
            return replace(state, cache=layers, last_logits=last_logits)
        # each group of rows without the left padding it does not need; its cache goes to the
        # right end of the batch's (the positions before stay zero, and masked)
        width, cache, last_logits = state.ids.size(1), None, None
        for group in groups:
            index = torch.tensor(group, device=state.ids.device)
            keep = int(state.mask[index].sum(1).max())
            layers, logits = self._prefill_rows(state.ids[index, -keep:], state.mask[index, -keep:])
            if cache is None:
                cache = [tuple(t.new_zeros(state.ids.size(0), t.size(1), width, t.size(3)) for t in layer)
                         for layer in layers]
                last_logits = logits.new_empty(state.ids.size(0), logits.size(-1))
            for full, part in zip(cache, layers):
                for full_t, part_t in zip(full, part):
                    full_t[index, :, width - keep:] = part_t
            last_logits[index] = logits
        return replace(state, cache=tuple(cache), last_logits=last_logits)

    def _prefill_rows(self, ids: torch.LongTensor, mask: torch.Tensor):
        """Per layer (keys, values) ``[R, H_kv, S, D]`` of a prompt and its last logits ``[R, V]``."""
        with self._autocast():
            out = _call_with_cache(self._body, None, input_ids=ids, attention_mask=mask,
                                   position_ids=_positions(mask), use_cache=True)
            last_logits = self.project(out.last_hidden_state[:, -1]).float()
        return tuple((layer.keys, layer.values) for layer in _cache_of(out).layers), last_logits

    def _dynamic_cache(self, layers):
        from transformers import DynamicCache

        return DynamicCache(layers, config=self.generator.config)

    def forced_hidden(self, state: CausalState, ys: torch.LongTensor) -> torch.Tensor:
        """Training: hidden states ``[R, T, H]`` whose projection scores ``ys``, from one
        pass over prompt + ys[:-1] (after a prefill, `forced_logits` reuses the cache)."""
        if state.cache is not None:
            raise ValueError("forced_hidden runs prompt and response together; use forced_logits after a prefill")
        follow = ys[:, :-1]
        prompt_lengths = state.mask.sum(1)
        target_lengths = ys.ne(self.pad_id).sum(1).clamp(min=1)
        groups = length_groups((prompt_lengths + target_lengths).tolist())
        if len(groups) == 1:
            return self._forced_hidden_rows(state.ids, state.mask, follow)
        # each group without the padding it does not need: rows are independent, and the
        # positions cut from the response's end are pad targets, never scored
        out = None
        for group in groups:
            index = torch.tensor(group, device=ys.device)
            keep = int(prompt_lengths[index].max())
            targets = int(target_lengths[index].max())
            hidden = self._forced_hidden_rows(state.ids[index, -keep:], state.mask[index, -keep:],
                                              follow[index, : targets - 1])
            if out is None:
                out = hidden.new_zeros(ys.size(0), ys.size(1), hidden.size(-1))
            out.index_copy_(0, index, F.pad(hidden, (0, 0, 0, ys.size(1) - targets)))
        return out

    def _forced_hidden_rows(self, ids: torch.LongTensor, mask: torch.Tensor, follow: torch.LongTensor):
        prompt = mask.size(1)
        ids = torch.cat([ids, follow], dim=1)
        mask = torch.cat([mask, follow.new_ones(follow.shape, dtype=torch.bool)], dim=1)
        with self._autocast():
            out = self._body(input_ids=ids, attention_mask=mask, position_ids=_positions(mask))
        return out.last_hidden_state[:, prompt - 1 :]

    def target_log_probs(self, state: CausalState, ys: torch.LongTensor) -> torch.Tensor:
        if state.cache is None:
            return super().target_log_probs(state, ys)
        logits = self.forced_logits(state, ys)
        out = -F.cross_entropy(logits.float().flatten(0, 1), ys.flatten(), reduction="none").view(ys.shape)
        return out.masked_fill(ys.eq(self.pad_id), 0.0)

    def forced_logits(self, state: CausalState, ys: torch.LongTensor) -> torch.Tensor:
        if state.cache is None:
            return self.project(self.forced_hidden(state, ys))
        first = state.last_logits[:, None]
        follow = ys[:, :-1]
        if follow.size(1) == 0:
            return first
        targets = ys.ne(self.pad_id).sum(1).clamp(min=1)
        groups = length_groups(targets.tolist()) if self.group_forced_rows else [list(range(ys.size(0)))]
        if len(groups) == 1:
            return torch.cat([first, self._forced_after_cache(state.cache, state.mask, follow)], dim=1)
        # an evaluation batch's responses differ in length as its prompts do: each group of
        # rows runs to its own longest response, without the prompt padding it does not need
        # (the positions past a row's response score pad targets, which nothing reads)
        rest = first.new_zeros(ys.size(0), follow.size(1), first.size(-1))
        for group in groups:
            index = torch.tensor(group, device=ys.device)
            steps = int(targets[index].max()) - 1
            if steps == 0:
                continue
            keep = int(state.mask[index].sum(1).max())
            cache = tuple(tuple(t[index, :, -keep:] for t in layer) for layer in state.cache)
            rest[index, :steps] = self._forced_after_cache(cache, state.mask[index, -keep:], follow[index, :steps])
        return torch.cat([first, rest], dim=1)

    def _forced_after_cache(self, cache, prompt_mask: torch.Tensor, follow: torch.LongTensor) -> torch.Tensor:
        """Logits ``[R, T, V]`` (float) after each token of ``follow``, given a prompt's cache."""
        mask = torch.cat([prompt_mask, follow.new_ones(follow.shape, dtype=torch.bool)], dim=1)
        with self._autocast():
            out = _call_with_cache(self._body, self._dynamic_cache(cache), input_ids=follow,
                                   attention_mask=mask, position_ids=_positions(mask)[:, -follow.size(1):],
                                   use_cache=True)
            return self.project(out.last_hidden_state).float()

    def step(self, state: CausalState, decoder_input: torch.LongTensor, incr: Optional[CausalIncremental] = None):
        """Logits ``[R, 1, V]`` of the next token. The first step reads the prefill's last
        logits (the decoder start token is virtual); later steps feed the newest token of
        the rows still being written (an ended row's logits are zeros)."""
        if incr is None:
            state = self.prefill(state)
            incr = CausalIncremental(self._dynamic_cache(state.cache), state.mask,
                                     _positions(state.mask)[:, -1] + 1)
            return state.last_logits[:, None], incr
        incr = self._without_ended_rows(incr, decoder_input)
        rows = incr.rows
        newest = decoder_input[:, -1:] if rows is None else decoder_input[rows, -1:]
        mask = torch.cat([incr.mask, incr.mask.new_ones(incr.mask.size(0), 1)], dim=1)
        if newest.size(0) == 0:
            logits, cache = None, incr.cache
        elif self.lean_steps:
            with self._autocast():
                hidden = decode_step(self._body, newest, incr.cache, mask, incr.next_position)
                logits, cache = self.project(hidden), incr.cache
        else:
            with self._autocast():
                out = _call_with_cache(self._body, incr.cache, input_ids=newest, attention_mask=mask,
                                       position_ids=incr.next_position[:, None], use_cache=True)
                logits, cache = self.project(out.last_hidden_state), _cache_of(out)
        if rows is not None:  # an ended row's scores are never read: the search forces its end
            width = logits.size(-1) if logits is not None else self.generator.get_output_embeddings().weight.size(0)
            full = torch.zeros(decoder_input.size(0), 1, width, device=decoder_input.device)
            if logits is not None:
                full[rows] = logits.float()
            logits = full
        return logits.float(), CausalIncremental(cache, mask, incr.next_position + 1, rows)

    def _without_ended_rows(self, incr: CausalIncremental, decoder_input: torch.LongTensor) -> CausalIncremental:
        """The incremental state without the rows whose reply has ended.

        ParlAI's search appends the end token to a finished reply at every later step and
        reads nothing of its scores, but it steps the whole batch until every reply has
        ended: one long reply kept 80 rows of RAG-Sequence decoding for 63 steps where
        most had ended near 23. An ended row leaves the cache, so a step costs what is
        still being written.
        """
        if not self.drop_ended_rows:
            return incr
        ended = decoder_input[:, 1:].eq(self.end_id).any(1)  # column 0 is the start token
        held = incr.rows if incr.rows is not None else torch.arange(decoder_input.size(0), device=ended.device)
        keep = ~ended[held]
        if bool(keep.all()):
            return incr
        index = keep.nonzero().squeeze(1)
        incr.cache.reorder_cache(index)
        return CausalIncremental(incr.cache, incr.mask[index], incr.next_position[index], held[index])

    def reorder_incremental(self, incr: CausalIncremental, rows: torch.LongTensor):
        if _is_identity(rows, rows.numel() if incr.rows is not None else incr.mask.size(0)):
            return incr  # greedy search: nothing moves
        if incr.rows is None:
            incr.cache.reorder_cache(rows)
            return CausalIncremental(incr.cache, incr.mask.index_select(0, rows), incr.next_position.index_select(0, rows))
        # beams moved while some rows had ended: a new row takes its source's cache; one
        # whose source had ended has ended too (it carries the source's reply)
        position = torch.full((rows.numel(),), -1, dtype=torch.long, device=rows.device)
        position[incr.rows] = torch.arange(incr.rows.numel(), device=rows.device)
        source = position[rows]
        held = (source >= 0).nonzero().squeeze(1)
        incr.cache.reorder_cache(source[held])
        return CausalIncremental(incr.cache, incr.mask.index_select(0, source[held]),
                                 incr.next_position.index_select(0, source[held]), held)

    def check_projection(self):
        """Fail loudly if prompt-then-response scoring differs from the generator's own forward."""
        gen = self.generator
        was_training, bf16 = gen.training, self.bf16_inference
        gen.eval()
        self.bf16_inference = False  # compared in fp32
        ids = torch.tensor([[self.start_id, self.end_id, self.start_id]], device=gen.device)
        with torch.no_grad():
            state = self.prefill(CausalState(ids[:, :2], torch.ones_like(ids[:, :2], dtype=torch.bool)))
            ours = self.forced_logits(state, ids[:, 2:])
            theirs = gen(input_ids=ids[:, :2]).logits[:, -1:]
        gen.train(was_training)
        self.bf16_inference = bf16
        if not torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4):
            raise ValueError(f"unsupported generator {type(gen).__name__}: its output layer "
                             "is not a projection of the final hidden states")


def freeze_all_but_top_layers(generator, n_layers: int) -> int:
    """Train only the top ``n_layers`` decoder layers and the final norm of a causal LM.

    The frozen bottom runs without autograd, so a step costs its forward plus the
    backward of the top layers only. ``n_layers < 0`` trains everything. Returns the
    number of trainable parameters.
    """
    if n_layers >= 0:
        body = generator.get_decoder() if hasattr(generator, "get_decoder") else generator.model
        layers = getattr(body, "layers", None)
        if layers is None:
            raise ValueError(f"--generator-train-layers needs a decoder with `.layers`; "
                             f"{type(generator).__name__} has none (use -1 to train everything)")
        for p in generator.parameters():
            p.requires_grad_(False)
        top = list(layers)[len(layers) - min(n_layers, len(layers)):]
        for module in top + [getattr(body, "norm", None)]:
            if module is not None:
                for p in module.parameters():
                    p.requires_grad_(True)
    return sum(p.numel() for p in generator.parameters() if p.requires_grad)


def make_backend(generator, tokenizer, special_ids: dict, **kwargs) -> _Backend:
    """The backend for a loaded transformers generator (by whether it is an encoder-decoder)."""
    cls = Seq2SeqBackend if generator.config.is_encoder_decoder else CausalLMBackend
    return cls(generator, tokenizer, special_ids, **kwargs)
