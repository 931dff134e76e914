"""ParlAI tree search on RagModel's marginal equals transformers' RagTokenForGeneration.generate."""

import pytest
import torch
from parlai.core.agents import create_agent
from parlai.core.params import ParlaiParser
from parlai.core.torch_agent import Batch
from transformers import BartForConditionalGeneration, RagTokenForGeneration

from rag_dialogue.model import RagInput
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
