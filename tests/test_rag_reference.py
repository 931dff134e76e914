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
from rag_dialogue.rag import (
    marginalise_sequences,
    marginalise_tokens,
    rag_sequence_log_likelihood,
    rag_token_target_log_probs,
)

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
    return ours.generator_logits(state, target)


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
        # the training path: output layer only at non-pad targets
        state = ours.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
        train_nll = -(marginalise_tokens(ours.target_log_probs(state, target), doc_scores)
                      * target.ne(0)).sum(1)
    assert ref.shape == our_nll.shape
    assert torch.allclose(our_nll, ref, rtol=1e-5, atol=0), (our_nll, ref)
    assert torch.allclose(train_nll, ref, rtol=1e-5, atol=0), (train_nll, ref)


def test_rag_sequence_loss_equals_transformers(setup):
    generator, ours, contexts, mask, doc_scores, target = setup
    with torch.no_grad():
        logits = our_seq_logits(ours, contexts, mask, doc_scores, target)
        our_nll = -rag_sequence_log_likelihood(logits, doc_scores, target, pad_id=0)
        ref = hf_loss(RagSequenceForGeneration, generator, contexts, mask, doc_scores, target)
        state = ours.encoder(RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores))
        train_nll = -marginalise_sequences(ours.target_log_probs(state, target), doc_scores)
    assert torch.allclose(our_nll, ref, rtol=1e-5, atol=0), (our_nll, ref)
    assert torch.allclose(train_nll, ref, rtol=1e-5, atol=0), (train_nll, ref)


def test_t5_generator_output_layer_is_supported(tiny_bart_dir):
    """T5 scales decoder states before its output layer; RagModel checks its fused
    projection against the generator's own forward when it is built."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(T5Config(
        vocab_size=200, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bart_dir)  # only wraps special tokens here
    model = RagModel(t5, tokenizer, {"pad": 0, "start": 0, "end": 1}, rag_type="none")
    from rag_dialogue.backends import Seq2SeqState

    state = RagEncoderState(Seq2SeqState(torch.randn(2, 4, 16), torch.ones(2, 4, dtype=torch.long)), torch.zeros(2, 1))
    ys = torch.tensor([[5, 6, 1], [7, 1, 0]])
    with torch.no_grad():
        logits = t5(encoder_outputs=(state.gen.hidden,), attention_mask=state.gen.mask,
                    decoder_input_ids=model.backend.forced_input(ys)).logits
        expected = torch.log_softmax(logits, -1).gather(-1, ys[..., None]).squeeze(-1) * ys.ne(0)
        assert torch.allclose(model.target_log_probs(state, ys)[:, 0], expected, atol=1e-5)
