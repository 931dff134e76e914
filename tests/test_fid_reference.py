"""Fusion-in-Decoder equals an explicit reference on tiny random models.

Seq2seq (BART): the reference encodes each ``passage // history`` alone, unpadded,
concatenates the encoder outputs and runs the generator's own forward on them; the
decoder attends to all passages at once. Causal LM (Llama): the reference is one
unpadded prompt holding the K passages, then the response, with no KV cache. The
loss (training and evaluation paths) and greedy decoding through ParlAI's tree search
must agree with it.
"""

import pytest
import torch
from parlai.core.agents import create_agent
from parlai.core.params import ParlaiParser
from parlai.core.torch_agent import Batch
from transformers import AutoModelForCausalLM, AutoTokenizer, BartForConditionalGeneration

from rag_dialogue.generator import generator_special_ids
from rag_dialogue.model import RagInput, RagModel
from test_causal_reference import B, HISTORIES, K, PASSAGES  # the same examples as RAG's reference


def _history(tokenizer, pad):
    histories = [tokenizer.encode(h, add_special_tokens=False) for h in HISTORIES]
    width = max(map(len, histories))
    return histories, torch.tensor([h + [pad] * (width - len(h)) for h in histories])


def _agent(generator_dir, *args):
    opt = ParlaiParser(True, True).parse_args([
        "-m", "rag_dialogue.agent:RagDialogueAgent", "--generator", str(generator_dir),
        "--rag-type", "none", *args])
    agent = create_agent(opt)
    agent.model.eval()
    return agent


def _greedy(agent, state, max_ts):
    """ParlAI's greedy search over a state the FiD model encoded (the agent's own model has
    the same weights; it was built without an index, so it is given the rows)."""
    batch = Batch(batchsize=B, text_vec=torch.zeros(B, 1, dtype=torch.long))
    batch.precomputed_state = state
    with torch.no_grad():
        preds, _ = agent._generate(batch, 1, max_ts)
    return [list(agent._strip_start(p[0])) for p in preds]


def _agrees(ours, ref, end):
    """ParlAI ends every hypothesis, at the last step if need be."""
    return ours[:-1] == ref[: len(ours) - 1] and ours[-1] in (end, ref[len(ours) - 1])


# ---------------------------------------------------------------------- seq2seq


@pytest.fixture(scope="module")
def bart(peaked_bart_dir):
    tokenizer = AutoTokenizer.from_pretrained(peaked_bart_dir)
    generator = BartForConditionalGeneration.from_pretrained(peaked_bart_dir).eval()
    special = {"pad": tokenizer.pad_token_id, "start": generator.config.decoder_start_token_id,
               "end": generator.config.eos_token_id}
    model = RagModel(generator, tokenizer, special, rag_type="fid", n_docs=K).eval()
    histories, history = _history(tokenizer, special["pad"])
    ys = torch.tensor([[2000, 2001, 2002, 2003, special["end"]], [3000, 3001, special["end"], 0, 0]])
    return model, generator, tokenizer, special, histories, history, ys


def _bart_reference_encoding(generator, tokenizer, b, histories):
    """[1, sum of the K inputs' lengths, H]: each `[CLS] title / text // history [SEP]` alone."""
    parts = []
    for title, text in PASSAGES[b]:
        ids = ([tokenizer.cls_token_id] + tokenizer.encode(f"{title} / {text} //", add_special_tokens=False)
               + histories[b] + [tokenizer.sep_token_id])
        parts.append(generator.get_encoder()(input_ids=torch.tensor([ids])).last_hidden_state)
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("grad", [False, True])
def test_fid_bart_loss_equals_the_concatenated_encodings(bart, grad):
    """With and without autograd (BART's dropout keeps the comparison in eval mode)."""
    model, generator, tokenizer, special, histories, history, ys = bart
    with torch.set_grad_enabled(grad):
        state = model.encoder(RagInput(history=history, passages=PASSAGES))
        ours = model.target_log_probs(state, ys).detach()  # [B, 1, T]
    assert state.gen.hidden.size(0) == B and state.doc_scores.shape == (B, 1)  # one row per example
    for b in range(B):
        y = ys[b][ys[b] != special["pad"]]
        with torch.no_grad():
            encoded = _bart_reference_encoding(generator, tokenizer, b, histories)
            decoder_input = torch.cat([torch.tensor([special["start"]]), y[:-1]])[None]
            logits = generator(encoder_outputs=(encoded,), decoder_input_ids=decoder_input).logits[0]
        ref = torch.log_softmax(logits, -1).gather(-1, y[:, None])[:, 0]
        assert torch.allclose(ours[b, 0, : len(y)], ref, atol=1e-4), (ours[b, 0], ref)
        assert ours[b, 0, len(y):].abs().sum() == 0


def test_fid_bart_greedy_equals_the_reference_loop(bart, peaked_bart_dir):
    model, generator, tokenizer, special, histories, history, _ = bart
    with torch.no_grad():
        state = model.encoder(RagInput(history=history, passages=PASSAGES))
    ours = _greedy(_agent(peaked_bart_dir, "--inference", "greedy"), state, max_ts=8)
    for b in range(B):
        with torch.no_grad():
            encoded = _bart_reference_encoding(generator, tokenizer, b, histories)
            out = [special["start"]]
            for _ in range(8):
                logits = generator(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([out])).logits
                out.append(int(logits[0, -1].argmax()))
        assert _agrees(ours[b], out[1:], special["end"]), (ours[b], out[1:])


def test_fid_differs_from_rag_token(bart):
    """The fused decoder is not the per-passage mixture: the reference tests could not
    pass for a FiD that silently ran RAG-Token."""
    model, generator, tokenizer, special, _, history, ys = bart
    rag = RagModel(generator, tokenizer, special, rag_type="token", n_docs=K).eval()
    with torch.no_grad():
        fid = model.target_log_probs(model.encoder(RagInput(history=history, passages=PASSAGES)), ys)
        per_passage = rag.target_log_probs(rag.encoder(RagInput(history=history, passages=PASSAGES)), ys)
    assert fid.shape == (B, 1, ys.size(1)) and per_passage.shape == (B, K, ys.size(1))
    assert not torch.allclose(fid[:, 0], per_passage.logsumexp(1), atol=1e-3)


def test_fid_rejects_per_passage_rows(bart):
    model, *_ = bart
    contexts = torch.ones(B * K, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="fid builds its rows from passages"):
        model.encoder(RagInput(contexts=contexts, doc_scores=torch.zeros(B, K)))


# ---------------------------------------------------------------------- causal LM


@pytest.fixture(scope="module")
def llama(peaked_llama_dir):
    tokenizer = AutoTokenizer.from_pretrained(peaked_llama_dir)
    generator = AutoModelForCausalLM.from_pretrained(peaked_llama_dir).eval()
    special = generator_special_ids(generator, tokenizer)
    model = RagModel(generator, tokenizer, special, rag_type="fid", n_docs=K).eval()
    histories, history = _history(tokenizer, special["pad"])
    end, pad = special["end"], special["pad"]
    ys = torch.tensor([[450, 1200, 3400, 77, end], [90, 1500, end, pad, pad]])
    return model, generator, tokenizer, special, history, ys


def _llama_reference_prompt(tokenizer, b):
    """The chat template with the K passages, one a line, as the system message."""
    knowledge = "\n".join(f"{t} / {x}" for t, x in PASSAGES[b])
    return tokenizer.apply_chat_template(
        [{"role": "system", "content": knowledge}, {"role": "user", "content": HISTORIES[b]}],
        tokenize=False, add_generation_prompt=True)


def test_fid_causal_prompt_holds_every_passage_once(llama):
    model, _, tokenizer, _, history, _ = llama
    with torch.no_grad():
        state = model.encoder(RagInput(history=history, passages=PASSAGES))
    gen = state.gen
    assert gen.ids.size(0) == B and gen.cache is not None  # one prompt, one KV cache per example
    for b in range(B):
        assert tokenizer.decode(gen.ids[b][gen.mask[b]]) == _llama_reference_prompt(tokenizer, b)


@pytest.mark.parametrize("training", [False, True])
def test_fid_causal_loss_equals_the_one_prompt_reference(llama, training):
    model, generator, tokenizer, special, history, ys = llama
    with torch.set_grad_enabled(training):
        model.train(training)
        state = model.encoder(RagInput(history=history, passages=PASSAGES))
        ours = model.target_log_probs(state, ys).detach()
        model.eval()
    for b in range(B):
        prompt = tokenizer(_llama_reference_prompt(tokenizer, b), add_special_tokens=False,
                           return_tensors="pt").input_ids[0]
        y = ys[b][ys[b] != special["pad"]]
        with torch.no_grad():
            logits = generator(torch.cat([prompt, y])[None]).logits[0]
        ref = torch.log_softmax(logits[len(prompt) - 1: len(prompt) + len(y) - 1], -1).gather(-1, y[:, None])[:, 0]
        assert torch.allclose(ours[b, 0, : len(y)], ref, atol=1e-4), (ours[b, 0], ref)


def test_fid_causal_greedy_equals_the_reference_loop(llama, peaked_llama_dir):
    model, generator, tokenizer, special, history, _ = llama
    with torch.no_grad():
        state = model.encoder(RagInput(history=history, passages=PASSAGES))
    ours = _greedy(_agent(peaked_llama_dir, "--inference", "greedy"), state, max_ts=6)
    for b in range(B):
        seq = tokenizer(_llama_reference_prompt(tokenizer, b), add_special_tokens=False,
                        return_tensors="pt").input_ids[0].tolist()
        out = []
        with torch.no_grad():
            for _ in range(6):
                out.append(int(generator(torch.tensor([seq + out])).logits[0, -1].argmax()))
        assert _agrees(ours[b], out, special["end"]), (ours[b], out)


# ---------------------------------------------------------------------- the retriever


@pytest.mark.parametrize("gold_loss", [0.0, 1.0])
def test_fid_trains_its_query_encoder_by_the_gold_passage_loss_alone(tiny_index, tiny_bart_dir, gold_loss):
    """FiD's likelihood does not read the passage scores, so only the gold-passage loss
    moves the query encoder (the choice its docstring and recipes make)."""
    from parlai.core.message import Message

    from conftest import vital_articles
    from rag_dialogue.retrieval.index import DenseIndex

    count = DenseIndex.read_meta(tiny_index)["count"]  # every passage retrieved: the gold is among them
    opt = ParlaiParser(True, True).parse_args([
        "-m", "rag_dialogue.agent:RagDialogueAgent", "--generator", str(tiny_bart_dir),
        "--rag-type", "fid", "--index-dir", str(tiny_index), "--n-docs", str(count),
        "--retrieval-gold-loss", str(gold_loss), "--label-truncate", "12"])
    agent = create_agent(opt)
    title, text = vital_articles(1)[0]
    sentence = text.split(". ")[0] + "."
    obs = agent.observe(Message({"text": f"hi! can you tell me about {title}?", "labels": [sentence],
                                 "checked_sentence": sentence, "title": title, "episode_done": True}))
    batch = agent.batchify([obs])
    agent.model.train()
    agent.compute_loss(batch).backward()
    grads = [p.grad for p in agent.model.query_encoder.parameters() if p.requires_grad]
    moved = any(g is not None and g.abs().sum() > 0 for g in grads)
    assert moved == (gold_loss > 0)
    assert any(p.grad is not None for p in agent.model.generator.parameters())
