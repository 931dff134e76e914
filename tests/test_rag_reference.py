"""RagModel's losses equal transformers' RagToken/RagSequenceForGeneration on identical weights."""

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BartForConditionalGeneration,
    DPRConfig,
    DPRQuestionEncoder,
    RagConfig,
    RagSequenceForGeneration,
    RagTokenForGeneration,
)

from rag_dialogue.model import RagEncoderState, RagInput, RagModel
from rag_dialogue.rag import rag_sequence_log_likelihood, rag_token_target_log_probs

B, K = 2, 3


def reference_rag(cls, generator, n_docs):
    question_encoder = DPRQuestionEncoder(
        DPRConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=16)
    )
    config = RagConfig.from_question_encoder_generator_configs(
        question_encoder.config, generator.config, n_docs=n_docs
    )
    return cls(config, question_encoder=question_encoder, generator=generator).eval()


@pytest.fixture(scope="module")
def setup(tiny_bart_dir):
    generator = BartForConditionalGeneration.from_pretrained(tiny_bart_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bart_dir)
    special = {"pad": 0, "start": generator.config.decoder_start_token_id,
               "end": generator.config.eos_token_id}
    ours = RagModel(generator, tokenizer, special, rag_type="token", n_docs=K).eval()
    g = torch.Generator().manual_seed(1)
    contexts = torch.randint(1000, 2000, (B * K, 9), generator=g)
    contexts[:, 0], contexts[:, -1] = 101, 102
    contexts[1, 6:] = 0  # some padding
    mask = contexts.ne(0).long()
    doc_scores = torch.randn(B, K, generator=g)
    target = torch.randint(1000, 2000, (B, 6), generator=g)
    target[:, -1] = 102
    target[1, 4] = 102
    target[1, 5] = 0  # shorter second target
    return generator, ours, contexts, mask, doc_scores, target


def our_seq_logits(ours, contexts, mask, doc_scores, target):
    state = ours.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
    logits, _ = ours.generator_logits(state, ours.forced_decoder_input(target))
    return logits


def hf_loss(cls, generator, contexts, mask, doc_scores, target):
    hf = reference_rag(cls, generator, K)
    decoder_input = torch.cat([torch.full((B, 1), 101), target], 1)  # start + target
    out = hf(context_input_ids=contexts, context_attention_mask=mask, doc_scores=doc_scores,
             decoder_input_ids=decoder_input, labels=decoder_input, reduce_loss=False, n_docs=K)
    return out.loss


def test_rag_token_loss_equals_transformers(setup):
    generator, ours, contexts, mask, doc_scores, target = setup
    with torch.no_grad():
        logits = our_seq_logits(ours, contexts, mask, doc_scores, target)
        ll = rag_token_target_log_probs(logits, doc_scores, target)
        our_nll = -(ll * target.ne(0)).sum(1)
        ref = hf_loss(RagTokenForGeneration, generator, contexts, mask, doc_scores, target)
    assert ref.shape == our_nll.shape
    assert torch.allclose(our_nll, ref, rtol=1e-5, atol=0), (our_nll, ref)


def test_rag_sequence_loss_equals_transformers(setup):
    generator, ours, contexts, mask, doc_scores, target = setup
    with torch.no_grad():
        logits = our_seq_logits(ours, contexts, mask, doc_scores, target)
        our_nll = -rag_sequence_log_likelihood(logits, doc_scores, target, pad_id=0)
        ref = hf_loss(RagSequenceForGeneration, generator, contexts, mask, doc_scores, target)
    assert torch.allclose(our_nll, ref, rtol=1e-5, atol=0), (our_nll, ref)
