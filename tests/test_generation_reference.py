"""ParlAI tree search on RagModel's marginal equals transformers' RagTokenForGeneration.generate."""

import pytest
import torch
from parlai.core.agents import create_agent
from parlai.core.params import ParlaiParser
from parlai.core.torch_agent import Batch
from transformers import BartForConditionalGeneration, RagTokenForGeneration

from rag_dialogue.model import RagInput
from rag_dialogue.strategies import strategy_for
from test_rag_reference import reference_rag

B, K = 2, 3


def make_agent(generator_dir, *args):
    parser = ParlaiParser(True, True)
    opt = parser.parse_args([
        "-m", "rag_dialogue.agent:RagDialogueAgent", "--generator", str(generator_dir),
        "--rag-type", "none", *args,
    ])
    return create_agent(opt)


def precomputed_batch(seed=3):
    g = torch.Generator().manual_seed(seed)
    contexts = torch.randint(1000, 3000, (B * K, 12), generator=g)
    contexts[:, 0], contexts[:, -1] = 101, 102
    doc_scores = torch.randn(B, K, generator=g) * 2
    batch = Batch(batchsize=B, text_vec=torch.zeros(B, 1, dtype=torch.long))
    batch.rag_input = RagInput(contexts=contexts, context_mask=contexts.ne(0).long(), doc_scores=doc_scores)
    return batch


# ParlAI's min length counts generated tokens before the end token; transformers'
# counts the decoder start token too.
@pytest.mark.parametrize("beam,min_len", [(1, 0), (4, 3)])
def test_tree_search_matches_transformers_generate(peaked_bart_dir, beam, min_len):
    max_len = 30
    inference = ["--inference", "greedy"] if beam == 1 else [
        "--inference", "beam", "--beam-size", str(beam), "--beam-length-penalty", "0"]
    agent = make_agent(peaked_bart_dir, *inference, "--beam-min-length", str(min_len))
    agent.model.eval()
    batch = precomputed_batch()
    with torch.no_grad():
        preds, _ = agent._generate(batch, beam, max_len)
    ours = [agent._strip_start(p[0]) for p in preds]

    generator = BartForConditionalGeneration.from_pretrained(peaked_bart_dir).eval()
    hf = reference_rag(RagTokenForGeneration, generator, K)
    rag_input = batch.rag_input
    with torch.no_grad():
        ref = hf.generate(
            context_input_ids=rag_input.contexts, context_attention_mask=rag_input.context_mask,
            doc_scores=rag_input.doc_scores, n_docs=K, num_beams=beam, max_length=max_len + 1,
            min_length=min_len + 1, do_sample=False, length_penalty=0.0,
            no_repeat_ngram_size=0, repetition_penalty=1.0,
        )
    theirs = []
    for row in ref.tolist():
        row = row[1:]  # drop the decoder start token; cut the padding after the end token
        theirs.append(tuple(row[: row.index(102) + 1] if 102 in row else row))
    assert ours == theirs
    assert all(len(p) > min_len for p in ours)


def test_rag_sequence_thorough_decoding_ranks_by_transformers_loss(peaked_bart_dir):
    """Beam search under each passage (ParlAI's), then the union ranked by p(y|x) under all
    passages: our ranking and scores equal RagSequenceForGeneration's loss on the same
    candidates. (ParlAI's and transformers' beam searches stop at different times, so
    their candidate sets may differ in the longer hypotheses.)"""
    from transformers import RagSequenceForGeneration

    beam = 2
    agent = make_agent(peaked_bart_dir, "--inference", "beam", "--beam-size", str(beam),
                       "--beam-length-penalty", "0", "--beam-min-length", "2",
                       "--rag-sequence-decoding", "thorough")
    agent.strategy = strategy_for("sequence")  # the model was built without an index
    agent.model.eval()
    batch = precomputed_batch(seed=5)
    with torch.no_grad():
        preds, ranked = agent._generate(batch, beam, 30)

    generator = BartForConditionalGeneration.from_pretrained(peaked_bart_dir).eval()
    hf = reference_rag(RagSequenceForGeneration, generator, K)
    ctx, mask, scores = (batch.rag_input.contexts, batch.rag_input.context_mask,
                         batch.rag_input.doc_scores)
    for b in range(B):
        candidates = [tuple(t.tolist()) for t, _, _ in ranked[b].get_rescored_finished()]
        assert len(candidates) > 1 and len(set(candidates)) == len(candidates)
        labels, _ = agent._pad_tensor([[101, *c] for c in candidates])
        n, rows = len(candidates), slice(b * K, (b + 1) * K)
        with torch.no_grad():
            nll = hf(context_input_ids=ctx[rows].repeat(n, 1), context_attention_mask=mask[rows].repeat(n, 1),
                     doc_scores=scores[b: b + 1].repeat(n, 1), labels=labels, n_docs=K,
                     reduce_loss=False).loss
        ours = torch.tensor([float(s) for _, s, _ in ranked[b].get_rescored_finished()])
        assert torch.allclose(ours, -nll, atol=1e-3), (ours, -nll)
        assert ours.tolist() == sorted(ours.tolist(), reverse=True)
        assert agent._strip_start(preds[b][0]) == candidates[0]


def test_rag_sequence_fast_decoding_sums_only_the_passages_that_produced_a_hypothesis(peaked_bart_dir):
    results = {}
    for mode in ("fast", "thorough"):
        agent = make_agent(peaked_bart_dir, "--inference", "beam", "--beam-size", "2",
                           "--beam-length-penalty", "0", "--beam-min-length", "2",
                           "--rag-sequence-decoding", mode)
        agent.strategy = strategy_for("sequence")  # the model was built without an index
        agent.model.eval()
        with torch.no_grad():
            _, ranked = agent._generate(precomputed_batch(seed=5), 2, 30)
        results[mode] = [{tuple(t.tolist()): float(s) for t, s, _ in r.get_rescored_finished()}
                         for r in ranked]
    for fast, thorough in zip(results["fast"], results["thorough"]):
        assert fast.keys() == thorough.keys()
        # fewer passages in the sum, so never more likely; equal for some, lower for others
        assert all(fast[c] <= thorough[c] + 1e-4 for c in fast)
    assert any(fast[c] < thorough[c] - 1e-3 for fast, thorough in zip(results["fast"], results["thorough"])
               for c in fast)


def test_nucleus_sampling_runs_on_the_marginal(peaked_bart_dir):
    agent = make_agent(peaked_bart_dir, "--inference", "nucleus", "--topp", "0.9",
                       "--beam-min-length", "4")
    agent.model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        preds, _ = agent._generate(precomputed_batch(), 1, 20)
    for tokens, _, _ in preds:
        tokens = agent._strip_start(tokens)
        assert len(tokens) > 4 and all(0 <= t < 30522 for t in tokens)


def test_ngram_blocking_applies_to_the_marginal(peaked_bart_dir):
    """Long beams of this model repeat bigrams; --beam-block-ngram 2 must prevent it."""
    def repeats(*blocking):
        agent = make_agent(peaked_bart_dir, "--inference", "beam", "--beam-size", "3",
                           "--beam-min-length", "15", *blocking)
        agent.model.eval()
        with torch.no_grad():
            preds, _ = agent._generate(precomputed_batch(), 3, 25)
        bigrams = [list(zip(t, t[1:])) for t in (agent._strip_start(p[0]) for p in preds)]
        return sum(len(b) - len(set(b)) for b in bigrams)

    assert repeats() > 0
    assert repeats("--beam-block-ngram", "2") == 0
