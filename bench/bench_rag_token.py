"""Our RAG-Token train step and generation against transformers' RagTokenForGeneration.

Both run in one process on identical weights (one BART generator object), identical
passages (precomputed context ids) and identical passage scores, so the ratio is a
like-for-like comparison of the marginalisation and decoding code. Reports medians
over repeated, interleaved runs and checks that the outputs are equal.

    .venv/bin/python bench/bench_rag_token.py [--repeats 15] [--batch 8] [--docs 5]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import statistics
import tempfile
import time

import torch
from parlai.core.agents import create_agent
from parlai.core.params import ParlaiParser
from parlai.core.torch_agent import Batch
from transformers import (
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    DPRConfig,
    DPRQuestionEncoder,
    RagConfig,
    RagTokenForGeneration,
)

from rag_dialogue.model import RagInput
from rag_dialogue.paths import default_encoder_path
from rag_dialogue.rag import marginalise_tokens


def tiny_generator(out_dir, d_model):
    """A random BART with the MiniLM vocabulary whose outputs depend on the input."""
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    config = BartConfig(
        vocab_size=tok.vocab_size, d_model=d_model, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model, max_position_embeddings=256, pad_token_id=0,
        bos_token_id=101, eos_token_id=102, decoder_start_token_id=101,
        forced_bos_token_id=None, forced_eos_token_id=None, init_std=0.2,
        tie_word_embeddings=False,
    )
    model = BartForConditionalGeneration(config)
    with torch.no_grad():
        model.final_logits_bias[0, 102] += 4.5  # ends some hypotheses early
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def reference(generator, n_docs):
    qe = DPRQuestionEncoder(DPRConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=16))
    config = RagConfig.from_question_encoder_generator_configs(qe.config, generator.config, n_docs=n_docs)
    return RagTokenForGeneration(config, question_encoder=qe, generator=generator)


def same_hypotheses(ours, theirs, end=102):
    """Equal token sequences, allowing ParlAI's convention for hypotheses cut at the
    length limit: their last token is replaced by the end token."""
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs):
        if b and b[-1] != end:  # did not finish within the limit
            a, b = a[:-1] if a and a[-1] == end else a, b[:-1]
        if tuple(a) != tuple(b):
            return False
    return True


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed runs of each side (interleaved)")
    ap.add_argument("--batch", type=int, default=8, help="examples per batch (B)")
    ap.add_argument("--docs", type=int, default=5, help="passages per example (K)")
    ap.add_argument("--d-model", type=int, default=64, help="generator width")
    ap.add_argument("--max-len", type=int, default=24, help="generation length limit")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    B, K = args.batch, args.docs

    gen_dir = tempfile.mkdtemp(prefix="bench-generator-")
    tiny_generator(gen_dir, args.d_model)
    opt = ParlaiParser(True, True).parse_args([
        "-m", "rag_dialogue.agent:RagDialogueAgent", "--generator", gen_dir,
        "--rag-type", "none", "--beam-min-length", "2", "--beam-length-penalty", "0",
    ])
    agent = create_agent(opt)
    ours = agent.model
    hf = reference(ours.generator, K)  # the very same generator module

    g = torch.Generator().manual_seed(0)
    contexts = torch.randint(1000, 3000, (B * K, 64), generator=g)
    contexts[:, 0], contexts[:, -1] = 101, 102
    mask = contexts.ne(0).long()
    doc_scores = torch.randn(B, K, generator=g)
    target = torch.randint(1000, 3000, (B, 20), generator=g)
    target[:, -1] = 102
    rag_input = RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores)

    def our_train_step():
        ours.train()
        ours.zero_grad()
        state = ours.encoder(rag_input)
        loss = -marginalise_tokens(ours.target_log_probs(state, target), state.doc_scores).sum()
        loss.backward()
        return loss.detach()

    def their_train_step():
        hf.train()
        hf.zero_grad()
        decoder_input = torch.cat([torch.full((B, 1), 101), target], 1)
        out = hf(context_input_ids=contexts, context_attention_mask=mask, doc_scores=doc_scores,
                 decoder_input_ids=decoder_input, labels=decoder_input, n_docs=K, reduce_loss=True)
        out.loss.backward()
        return out.loss.detach()

    def our_generate(beam):
        def run():
            ours.eval()
            agent.beam_size = beam
            batch = Batch(batchsize=B, text_vec=torch.zeros(B, 1, dtype=torch.long), rag_input=rag_input)
            with torch.no_grad():
                preds, _ = agent._generate(batch, beam, args.max_len)
            return [agent._strip_start(p[0]) for p in preds]
        return run

    def their_generate(beam):
        def run():
            hf.eval()
            with torch.no_grad():
                out = hf.generate(context_input_ids=contexts, context_attention_mask=mask,
                                  doc_scores=doc_scores, n_docs=K, num_beams=beam,
                                  max_length=args.max_len + 1, min_length=3, do_sample=False,
                                  length_penalty=0.0)
            rows = [r[1:] for r in out.tolist()]
            return [tuple(r[: r.index(102) + 1] if 102 in r else r) for r in rows]
        return run

    def set_search(beam):
        agent.opt["inference"] = "greedy" if beam == 1 else "beam"
        agent.opt["beam_size"] = beam

    cases = [("train step", our_train_step, their_train_step, None, 0.67)]
    for beam, target_ratio in ((1, None), (4, 0.5)):
        cases.append((f"generate beam={beam}", our_generate(beam), their_generate(beam), beam, target_ratio))

    print(f"B={B} K={K} d_model={args.d_model} vocab={ours.generator.config.vocab_size} "
          f"threads={torch.get_num_threads()} repeats={args.repeats}")
    print(f"{'case':<18}{'ours ms':>10}{'theirs ms':>11}{'ratio':>8}{'target':>8}  equal")
    failed = False
    for name, mine, theirs, beam, target_ratio in cases:
        if beam is not None:
            set_search(beam)
        _, a = timed(mine)  # warm-up, and the outputs to compare
        _, b = timed(theirs)
        equal = torch.allclose(a, b, rtol=1e-4) if torch.is_tensor(a) else same_hypotheses(a, b)
        ours_t, theirs_t = [], []
        for _ in range(args.repeats):
            ours_t.append(timed(mine)[0])
            theirs_t.append(timed(theirs)[0])
        ratio = statistics.median(ours_t) / statistics.median(theirs_t)
        ok = equal and (target_ratio is None or ratio <= target_ratio)
        failed |= not ok
        print(f"{name:<18}{1e3 * statistics.median(ours_t):>10.1f}{1e3 * statistics.median(theirs_t):>11.1f}"
              f"{ratio:>8.2f}{'' if target_ratio is None else f'<={target_ratio}':>8}  {equal}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
