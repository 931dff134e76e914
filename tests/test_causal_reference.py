"""RAG over a decoder-only LM equals a brute-force loop over passages, on a tiny random Llama.

The reference runs every (example, passage) pair as its own unpadded sequence, with no
KV cache: prompt tokens, then the response. Loss (RAG-Token, RAG-Sequence; training and
evaluation paths), greedy and beam search through ParlAI's tree search must agree with it.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rag_dialogue.generator import generator_special_ids
from rag_dialogue.model import RagInput, RagModel
from rag_dialogue.rag import marginalise_sequences, marginalise_tokens

B, K = 2, 3
PASSAGES = [
    [("Eiffel Tower", "The tower is 330 metres tall."), ("Paris", "Paris is the capital of France."),
     ("Louvre", "The Louvre is the most visited museum.")],
    [("Mount Everest", "Everest is 8,849 metres high."), ("Nepal", "Nepal is in South Asia."),
     ("K2", "K2 is the second-highest mountain.")],
]
HISTORIES = ["Hi! How tall is the Eiffel Tower?", "what do you know about\nthe highest mountain?"]


@pytest.fixture(scope="module")
def setup(peaked_llama_dir):
    tokenizer = AutoTokenizer.from_pretrained(peaked_llama_dir)
    generator = AutoModelForCausalLM.from_pretrained(peaked_llama_dir).eval()
    special = generator_special_ids(generator, tokenizer)
    model = RagModel(generator, tokenizer, special, rag_type="token", n_docs=K).eval()
    pad = special["pad"]
    histories = [tokenizer.encode(h, add_special_tokens=False) for h in HISTORIES]
    width = max(map(len, histories))
    history = torch.tensor([h + [pad] * (width - len(h)) for h in histories])
    contexts, mask = model._contexts(history, PASSAGES)
    torch.manual_seed(1)
    doc_scores = torch.randn(B, K)
    end = special["end"]
    ys = torch.tensor([[450, 1200, 3400, 77, end], [90, 1500, end, pad, pad]])
    return model, generator, special, contexts, mask, doc_scores, ys


def _prompts(contexts, mask):
    return [row[m] for row, m in zip(contexts, mask)]


def brute_force_log_probs(generator, contexts, mask, ys, pad):
    """log p_gen(y_t | z_k, x, y_<t) ``[B, K, T]`` from one unpadded sequence per pair."""
    out = torch.zeros(B, K, ys.size(1))
    for r, prompt in enumerate(_prompts(contexts, mask)):
        b, k = divmod(r, K)
        y = ys[b][ys[b] != pad]
        logits = generator(torch.cat([prompt, y])[None]).logits[0]
        log_probs = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) + len(y) - 1], -1)
        out[b, k, : len(y)] = log_probs.gather(-1, y[:, None])[:, 0]
    return out


def test_prompts_follow_the_chat_template(setup):
    model, _, special, contexts, mask, _, _ = setup
    tokenizer = model.tokenizer
    assert bool(mask[:, -1].all()), "prompts are left-padded: all end where the response begins"
    text = tokenizer.decode(_prompts(contexts, mask)[0])
    expected = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Eiffel Tower / The tower is 330 metres tall."},
         {"role": "user", "content": HISTORIES[0]}], tokenize=False, add_generation_prompt=True)
    assert text == expected
    assert special["pad"] != special["end"]  # SmolLM2 pads with its end token; we must not


@pytest.mark.parametrize("training", [False, True])
def test_losses_equal_the_per_passage_loop(setup, training):
    model, generator, special, contexts, mask, doc_scores, ys = setup
    pad = special["pad"]
    with torch.no_grad():
        ref = brute_force_log_probs(generator, contexts, mask, ys, pad)
    with torch.set_grad_enabled(training):
        model.train(training)
        state = model.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
        ours = model.target_log_probs(state, ys).detach()
        model.eval()
    assert (state.gen.cache is None) == training  # evaluation prefills a KV cache, training does not
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()
    notnull = ys.ne(pad)
    token = -(marginalise_tokens(ours, doc_scores) * notnull).sum(1)
    token_ref = -(marginalise_tokens(ref, doc_scores) * notnull).sum(1)
    assert torch.allclose(token, token_ref, atol=1e-4)
    sequence = marginalise_sequences(ours, doc_scores)
    assert torch.allclose(sequence, marginalise_sequences(ref, doc_scores), atol=1e-4)
    assert ours[1, :, 3:].abs().sum() == 0  # pad targets score nothing
    assert ours[1, :, 2].ne(0).all()  # ... but the end token does: the model learns to stop


def test_forced_logits_after_prefill_equal_the_loop(setup):
    model, generator, special, contexts, mask, doc_scores, ys = setup
    with torch.no_grad():
        state = model.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
        logits = model.generator_logits(state, ys)  # [B*K, T, V]
        prompt = _prompts(contexts, mask)[4]  # example 1, passage 1
        y = ys[1][ys[1] != special["pad"]]
        expected = generator(torch.cat([prompt, y])[None]).logits[0, len(prompt) - 1 : len(prompt) + len(y) - 1]
    assert torch.allclose(logits[4, : len(y)], expected, atol=1e-4)


def brute_force_greedy(generator, contexts, mask, doc_scores, steps):
    """RAG-Token greedy decoding with a full forward per passage at every step."""
    prompts = _prompts(contexts, mask)
    weights = torch.softmax(doc_scores, 1)
    outputs = [[] for _ in range(B)]
    for _ in range(steps):
        for b in range(B):
            mix = 0
            for k in range(K):
                seq = torch.cat([prompts[b * K + k], torch.tensor(outputs[b], dtype=torch.long)])
                mix = mix + weights[b, k] * torch.softmax(generator(seq[None]).logits[0, -1], -1)
            outputs[b].append(int(mix.argmax()))
    return outputs


def _agent(llama_dir, *args):
    from parlai.core.agents import create_agent
    from parlai.core.params import ParlaiParser

    opt = ParlaiParser(True, True).parse_args([
        "-m", "rag_dialogue.agent:RagDialogueAgent", "--generator", str(llama_dir),
        "--rag-type", "none", "--n-docs", str(K), *args])
    agent = create_agent(opt)
    agent.model.eval()
    return agent


def _generate(agent, contexts, mask, doc_scores, beam, max_ts):
    from parlai.core.torch_agent import Batch

    batch = Batch(batchsize=B, text_vec=torch.zeros(B, 1, dtype=torch.long))
    batch.rag_input = RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores)
    with torch.no_grad():
        preds, beams = agent._generate(batch, beam, max_ts)
    return [agent._strip_start(p[0]) for p in preds], beams


def test_greedy_equals_the_per_passage_loop(setup, peaked_llama_dir):
    _, generator, special, contexts, mask, doc_scores, _ = setup
    agent = _agent(peaked_llama_dir, "--inference", "greedy")
    assert agent.NULL_IDX == special["pad"] and agent.END_IDX == special["end"]
    ours, _ = _generate(agent, contexts, mask, doc_scores, beam=1, max_ts=6)
    with torch.no_grad():
        ref = brute_force_greedy(generator, contexts, mask, doc_scores, steps=6)
    for b in range(B):
        tokens = list(ours[b])  # ParlAI ends every hypothesis, at the last step if need be
        assert tokens[:-1] == ref[b][: len(tokens) - 1]
        assert tokens[-1] in (special["end"], ref[b][len(tokens) - 1])


def test_beam_search_with_cache_equals_beam_search_without(setup, peaked_llama_dir):
    """Beam search reorders each passage's KV cache with its beam; recomputing every
    step from scratch (no cache) must give the same beams."""
    _, generator, _, contexts, mask, doc_scores, _ = setup
    from rag_dialogue.rag import rag_token_next_log_probs

    def no_cache_decoder(decoder_input, state, incr_state=None):
        rows = torch.arange(decoder_input.size(0)).repeat_interleave(K)
        generated = decoder_input[:, 1:].index_select(0, rows)
        ids = torch.cat([state.gen.ids, generated], 1)
        attn = torch.cat([state.gen.mask, torch.ones_like(generated, dtype=torch.bool)], 1)
        positions = (attn.long().cumsum(-1) - 1).clamp(min=0)
        logits = generator(input_ids=ids, attention_mask=attn, position_ids=positions).logits[:, -1:]
        return rag_token_next_log_probs(logits, state.doc_scores), None

    args = ("--inference", "beam", "--beam-size", "3", "--beam-length-penalty", "0")
    ours, our_beams = _generate(_agent(peaked_llama_dir, *args), contexts, mask, doc_scores, 3, 6)
    reference = _agent(peaked_llama_dir, *args)
    reference.model.decoder = no_cache_decoder
    reference.model.reorder_decoder_incremental_state = lambda incr, inds: None
    ref, ref_beams = _generate(reference, contexts, mask, doc_scores, 3, 6)
    assert ours == ref
    for a, b in zip(our_beams, ref_beams):
        assert [h.tolist() for h, _, _ in a.get_rescored_finished()] == \
               [h.tolist() for h, _, _ in b.get_rescored_finished()]


def test_bf16_autocast_training_loss_matches_fp32(setup):
    model, generator, special, contexts, mask, doc_scores, ys = setup
    losses = {}
    for bf16 in (False, True):
        model.backend.autocast_bf16 = bf16
        model.train()
        state = model.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
        lp = model.target_log_probs(state, ys)
        losses[bf16] = -(marginalise_tokens(lp, doc_scores) * ys.ne(special["pad"])).sum()
        losses[bf16].backward()
    model.backend.autocast_bf16 = False
    model.eval()
    generator.zero_grad()
    assert losses[True].item() == pytest.approx(losses[False].item(), rel=0.02)
