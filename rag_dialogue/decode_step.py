"""One decoding step of a Llama decoder without transformers' per-layer machinery.

A chat reply decodes about 17 steps of one new token per row. With int8 weights, a step
of transformers' Llama forward took 60 ms on 2 cores, of which the matrix products were
about 25: the rest went to what a general forward carries (argument decorators, output
hooks, a 4-d mask built anew, the attention-function registry, a module call per
projection). `decode_step` does the same arithmetic with the model's own modules (norms,
projections, MLP, rotary embedding) and cache, and nothing else.

Only for the architectures whose layer it repeats (`supports`); `tests/test_causal_lm.py`
checks that it gives the model's own forward bit for bit, left padding included.
"""

import torch
import torch.nn.functional as F

# Llama's decoder layer: pre-norm attention with rotary positions and grouped KV heads,
# then a pre-norm MLP (SmolLM2 is one).
SUPPORTED_MODEL_TYPES = frozenset({"llama"})


def supports(generator) -> bool:
    """Whether `decode_step` repeats this causal LM's decoder layer."""
    config = generator.config
    body = getattr(generator, "model", None)
    return (config.model_type in SUPPORTED_MODEL_TYPES and body is not None
            and hasattr(body, "rotary_emb") and len(body.layers) == config.num_hidden_layers)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.size(-1) // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rms_norm(norm, x: torch.Tensor) -> torch.Tensor:
    """`norm(x)` for a Llama RMS norm, in one fused operation (it was seven small ones)."""
    return F.rms_norm(x.float(), norm.weight.shape, norm.weight.float(), norm.variance_epsilon).to(x.dtype)


def decode_step(body, input_ids: torch.LongTensor, cache, mask: torch.Tensor,
                positions: torch.LongTensor) -> torch.Tensor:
    """Final hidden states ``[R, 1, H]`` of one new token per row.

    body: the decoder (a `LlamaModel`); input_ids ``[R, 1]``; cache: its `DynamicCache`,
    which gains the new keys and values; mask ``[R, S + 1]`` bool, True at the real
    positions of cache and new token (left padding False); positions ``[R]``: the new
    token's position per row.
    """
    rows = input_ids.size(0)
    hidden = body.embed_tokens(input_ids)
    cos, sin = body.rotary_emb(hidden, positions[:, None])  # [R, 1, D]
    cos, sin = cos[:, None], sin[:, None]  # [R, 1 head, 1 token, D]
    # [R, 1, 1, S + 1], added to the attention scores: made once, not converted in each layer
    attend = torch.zeros(mask.shape, dtype=hidden.dtype).masked_fill(~mask, float("-inf"))[:, None, None, :]
    for index, layer in enumerate(body.layers):
        attention = layer.self_attn
        width = attention.head_dim
        x = _rms_norm(layer.input_layernorm, hidden)
        q = attention.q_proj(x).view(rows, 1, -1, width).transpose(1, 2)  # [R, heads, 1, D]
        k = attention.k_proj(x).view(rows, 1, -1, width).transpose(1, 2)  # [R, kv heads, 1, D]
        v = attention.v_proj(x).view(rows, 1, -1, width).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k, v = cache.update(k, v, index)
        # the query heads of a KV head as its queries [R, kv heads, heads / kv heads, D]: as
        # transformers' attention does a step, so the sums (and the greedy replies) are its own
        packed = q.reshape(rows, k.size(1), -1, width)
        out = F.scaled_dot_product_attention(packed, k, v, attn_mask=attend, scale=attention.scaling)
        hidden = hidden + attention.o_proj(out.reshape(rows, 1, -1))
        hidden = hidden + layer.mlp(_rms_norm(layer.post_attention_layernorm, hidden))
    return _rms_norm(body.norm, hidden)
