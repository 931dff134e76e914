"""Fusion-in-Decoder against RAG-Token: a train step and greedy decoding, in one run.

Both types run on the very same weights, passages (sentences of real Wikipedia
vital articles), histories, responses and K, for each generator kind:

* seq2seq: a random BART (MiniLM vocabulary). Both encode the B*K `passage // history`
  rows; RAG-Token then decodes B*K rows and mixes them, FiD decodes B rows that attend
  to all K encodings.
* causal: a random Llama (SmolLM2 vocabulary and chat template). RAG-Token runs B*K
  prompts of one passage each; FiD runs B prompts holding all K passages (one KV cache
  per example).

train step = `RagModel.encoder` + `target_log_probs` + the type's loss + backward;
greedy = the incremental API ParlAI's search drives (`encoder`, then `decoder` once per
token), `--max-len` tokens, never stopping early. Prints medians over interleaved
repeats and the ratio FiD / RAG-Token, with the machine it ran on.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_fid.py [--repeats 7] [--batch 8] [--docs 5]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import os
import platform
import statistics
import time

import torch
from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

from bench_causal_rag import pad_rows, smollm2_tokenizer, tiny_generator, vital_articles
from rag_dialogue.generator import generator_special_ids
from rag_dialogue.model import RagInput, RagModel
from rag_dialogue.paths import default_encoder_path


def tiny_bart(hidden):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    config = BartConfig(
        vocab_size=tok.vocab_size, d_model=hidden, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=4 * hidden,
        decoder_ffn_dim=4 * hidden, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id, forced_bos_token_id=None, forced_eos_token_id=None,
        dropout=0.0, attention_dropout=0.0,  # the same arithmetic on every repeat
    )
    return BartForConditionalGeneration(config), tok


def workload(tokenizer, B, K, history_len, label_len, end, pad):
    """Example b asks about article b; its K passages are sentences of articles b .. b+K-1."""
    articles = vital_articles(B + K)
    passages = [[(articles[b + k][0], articles[b + k][1][k % len(articles[b + k][1])]) for k in range(K)]
                for b in range(B)]
    histories, responses = [], []
    for b in range(B):
        title, sentences = articles[b]
        turns = f"I have always wanted to learn more about {title}. What is it known for?"
        histories.append(tokenizer.encode(turns, add_special_tokens=False)[-history_len:])
        responses.append(tokenizer.encode(sentences[0], add_special_tokens=False)[:label_len] + [end])
    return passages, pad_rows(histories, pad), pad_rows(responses, pad)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cases(model, passages, history, ys, pad, start, max_len):
    g = torch.Generator().manual_seed(0)
    doc_scores = torch.randn(len(passages), len(passages[0]), generator=g)
    rag_input = RagInput(history=history, passages=passages, doc_scores=doc_scores)
    notnull = ys.ne(pad)

    def train_step():
        model.train()
        model.zero_grad()
        state = model.encoder(rag_input)
        token_log_probs = model.target_log_probs(state, ys).masked_fill(~notnull[:, None], 0.0)
        nll, _ = model.strategy.loss(token_log_probs, state.doc_scores, notnull)
        (nll.sum() / notnull.sum()).backward()

    def greedy():
        model.eval()
        with torch.no_grad():
            state = model.encoder(rag_input)
            out, incr = torch.full((len(passages), 1), start, dtype=torch.long), None
            for _ in range(max_len):
                scores, incr = model.decoder(out, state, incr)
                out = torch.cat([out, scores[:, -1].argmax(-1, keepdim=True)], dim=1)

    return {"train step": train_step, "greedy": greedy}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed runs of each side (interleaved)")
    ap.add_argument("--batch", type=int, default=8, help="examples per batch (B)")
    ap.add_argument("--docs", type=int, default=5, help="passages per example (K)")
    ap.add_argument("--hidden", type=int, default=64, help="generator width")
    ap.add_argument("--max-len", type=int, default=24, help="generated tokens (no early stop)")
    ap.add_argument("--label-len", type=int, default=32, help="response tokens kept (before the end token)")
    ap.add_argument("--passage-truncate", type=int, default=64, help="passage tokens kept (as the embedded recipe)")
    ap.add_argument("--history-len", type=int, default=48, help="history tokens kept (as the embedded recipe)")
    ap.add_argument("--kinds", default="seq2seq,causal", help="generator kinds to bench")
    args = ap.parse_args()
    B, K = args.batch, args.docs
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"torch {torch.__version__} {torch.get_num_threads()} threads; B={B} K={K} hidden={args.hidden} "
          f"max_len={args.max_len} repeats={args.repeats} (medians)")
    print(f"{'generator':<10}{'case':<12}{'RAG-Token ms':>14}{'FiD ms':>10}{'FiD / RAG-Token':>17}")
    for kind in args.kinds.split(","):
        if kind == "seq2seq":
            generator, tokenizer = tiny_bart(args.hidden)
            special = {"pad": tokenizer.pad_token_id, "start": tokenizer.cls_token_id, "end": tokenizer.sep_token_id}
        else:
            tokenizer = smollm2_tokenizer()
            generator = tiny_generator(tokenizer, args.hidden, 0.2)
            special = generator_special_ids(generator, tokenizer)
        passages, history, ys = workload(tokenizer, B, K, args.history_len, args.label_len,
                                         special["end"], special["pad"])
        runs = {}
        for rag_type in ("token", "fid"):
            model = RagModel(generator, tokenizer, special, rag_type=rag_type, n_docs=K,
                             max_context_len=args.passage_truncate + 4 + args.history_len,  # as the agent
                             passage_truncate=args.passage_truncate)
            runs[rag_type] = cases(model, passages, history, ys, special["pad"], special["start"], args.max_len)
        for case in runs["token"]:
            times = {t: [] for t in runs}
            for t in runs:
                timed(runs[t][case])  # warm-up
            for _ in range(args.repeats):
                for t in runs:
                    times[t].append(timed(runs[t][case]))
            token, fid = (statistics.median(times[t]) for t in ("token", "fid"))
            print(f"{kind:<10}{case:<12}{1e3 * token:>14.1f}{1e3 * fid:>10.1f}{fid / token:>17.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
