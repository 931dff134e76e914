"""Knowledge selection: fine-tune the query encoder on the wizards' gold sentences.

RAG learns retrieval only through the generator's likelihood, a weak and expensive
signal (every step runs the generator once per passage). Wizard of Wikipedia records
which sentence the wizard used (`checked_sentence`), so the query encoder can also learn
to rank it first directly, as Dinan et al. (2019) train knowledge selection and DPR
trains its question encoder on gold passages: a cross-entropy over the passages the
index retrieves for the dialogue, towards the one that holds the gold sentence. The
passage index stays fixed (as in RAG), so nothing is re-encoded; a step costs one
forward and backward pass of the query encoder alone.

The result is a transformers encoder folder (`save_pretrained`), given to the agent
with `--query-encoder DIR`; RAG training then refines it from the likelihood.
"""

import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch

from rag_dialogue.backends import use_bf16
from rag_dialogue.retrieval.dialogues import dialogue_examples
from rag_dialogue.retrieval.gold import gold_targets, selection_loss
from rag_dialogue.retrieval.query import retrieval_query

log = logging.getLogger(__name__)
DEFAULT_STEPS, DEFAULT_LR = 100, 3e-5


def selection_steps(preset: dict, default: int = 0) -> int:
    """The recipe's `rag_dialogue_selection_steps` (0: the experiment skips the selection)."""
    return int(preset.get("rag_dialogue_selection_steps") or default)


class Selector:
    """Candidates and gold positions for examples, from a retriever's fixed index."""

    def __init__(self, retriever, n_candidates: int = 20, skip_said: bool = True,
                 retrieval_turns: int = 0, keep_first_turn: bool = False, topic_bonus: float = 0.0):
        self.retriever = retriever
        self.n_candidates = n_candidates
        self.skip_said = skip_said
        self.retrieval_turns, self.keep_first_turn = retrieval_turns, keep_first_turn
        self.topic_bonus = topic_bonus  # as the agent ranks outside training (0: as it trains)

    def queries(self, examples) -> list[str]:
        return [retrieval_query(list(e.turns), self.retrieval_turns, self.keep_first_turn) for e in examples]

    def candidates(self, query_emb: np.ndarray, examples, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[B, k]`` the agent would retrieve (said passages passed over, as it does)
        and the gold's position among them ``[B]`` (-100 when it is not there)."""
        from rag_dialogue.retrieval.retriever import search_fresh

        store = self.retriever.store
        topics = [e.turns[0] for e in examples] if self.topic_bonus else None
        rows, _ = search_fresh(self.retriever, query_emb, k, [e.said for e in examples] if self.skip_said else None,
                               topics=topics, topic_bonus=self.topic_bonus)
        targets = gold_targets([[(store[int(r)].title, store[int(r)].text) for r in row] for row in rows],
                               [(e.title, e.sentence) for e in examples])
        return rows, np.array(targets)

    @torch.inference_mode()
    def recall(self, examples, ks=(1, 5)) -> dict:
        """recall@k of the gold sentence among the passages the agent would retrieve."""
        encoder = self.retriever.query_encoder
        emb = encoder.encode(self.queries(examples), truncate_left=True)
        _, targets = self.candidates(emb, examples, max(ks))
        return {f"recall@{k}": float(np.mean((targets >= 0) & (targets < k))) for k in ks}


def train_query_encoder(selector: Selector, examples, out_dir, *, steps: int, batch_size: int = 32,
                        lr: float = DEFAULT_LR, max_seconds: float | None = None, seed: int = 0,
                        autocast_bf16: bool = False, progress: bool = True, after=None) -> dict:
    """Fine-tune ``selector.retriever.query_encoder`` on `examples`, save it to `out_dir`.

    Stops after `steps` steps or `max_seconds`, whichever comes first. `autocast_bf16`
    runs the encoder under bfloat16 autocast (about 2x faster on CPU here: bench/bench_selection.py). The folder
    (transformers weights, tokenizer, `selection.json`) appears only when complete;
    `after()`, if given, is called once training ends and its dict joins the stats there.
    """
    from tqdm import tqdm

    from rag_dialogue.utils import atomic_path

    if not examples:
        raise ValueError("no examples with gold knowledge (checked_sentence) to train the query encoder on")
    encoder = selector.retriever.query_encoder
    order = list(examples)
    random.Random(seed).shuffle(order)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr)
    started, losses, with_gold, step = time.time(), [], [], 0
    encoder.train()
    bar = tqdm(total=steps, desc="    query encoder", unit="step", disable=not progress)
    try:
        while step < steps and (max_seconds is None or time.time() - started < max_seconds):
            start = step * batch_size % len(order)
            batch = (order + order)[start:start + batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
                query_emb = encoder(**encoder.tokenize(selector.queries(batch), truncate_left=True)).float()
            rows, targets = selector.candidates(query_emb.detach().float().numpy(), batch, selector.n_candidates)
            passage_emb = torch.from_numpy(selector.retriever.index.reconstruct(rows)).to(query_emb)
            loss = selection_loss(query_emb, passage_emb, torch.from_numpy(targets))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            with_gold.append(float(np.mean(targets >= 0)))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    finally:
        bar.close()
        encoder.eval()
    stats = {"steps": step, "seconds": round(time.time() - started, 1), "batch_size": batch_size, "lr": lr,
             "bf16_autocast": autocast_bf16, "seed": seed,
             "candidates": selector.n_candidates, "examples": len(order),
             "final_loss": float(np.mean(losses[-20:])) if losses else None,
             "gold_among_candidates": float(np.mean(with_gold)) if with_gold else None}
    if after is not None:
        stats.update(after())
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        (tmp / "selection.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("query encoder trained on knowledge selection: %s -> %s", stats, out_dir)
    return stats


def fit_query_encoder(preset: dict, out_dir, *, steps: int | None = None, batch_size: int = 32,
                      lr: float | None = None,
                      n_candidates: int = 20, max_seconds: float | None = None,
                      eval_split: str | None = "valid_unseen", eval_examples: int | None = 400,
                      autocast_bf16: bool | None = None, progress: bool = True) -> dict:
    """Train a recipe's query encoder on its training dialogues (see `train_query_encoder`).

    With `eval_split`, recall@1/5 of the gold sentence among the passages the agent would
    retrieve is measured there before and after, and kept in `selection.json`. `steps`,
    `lr` and `autocast_bf16` default to the recipe's `rag_dialogue_selection_steps` (else
    100), `rag_dialogue_selection_lr` (else 3e-5) and `bf16_autocast`; the order of the
    turns and the initial state follow the recipe's `seed` (else 0).
    """
    from rag_dialogue.presets import split_options
    from rag_dialogue.retrieval.index import DenseIndex
    from rag_dialogue.retrieval.retriever import Retriever, query_encoder_for

    steps = selection_steps(preset, DEFAULT_STEPS) if steps is None else steps
    lr = float(preset.get("rag_dialogue_selection_lr", DEFAULT_LR)) if lr is None else lr
    for name, value in (("steps", steps), ("batch_size", batch_size), ("candidates", n_candidates)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    encoder = query_encoder_for(preset, DenseIndex.read_meta(preset["index_dir"]))
    selector = Selector(Retriever(preset["index_dir"], encoder), n_candidates,
                        skip_said=preset.get("retrieval_skip_said", True),
                        retrieval_turns=preset.get("retrieval_turns", 0),
                        keep_first_turn=preset.get("retrieval_keep_first_turn", False))
    task = {"task": preset["task"], "datapath": preset["datapath"]}
    examples = dialogue_examples({**task, "datatype": "train"})
    dev = []
    if eval_split:
        kind = preset.get("rag_dialogue_data", "embedded")
        dev = dialogue_examples({**task, **split_options(kind, eval_split)}, limit=eval_examples)
    before = selector.recall(dev) if dev else {}

    def evaluation() -> dict:
        return {"eval": {"split": eval_split, "examples": len(dev), "before": before,
                         "after": selector.recall(dev)}} if dev else {}

    stats = train_query_encoder(selector, examples, out_dir, steps=steps, batch_size=batch_size, lr=lr,
                                max_seconds=max_seconds, progress=progress, after=evaluation,
                                seed=int(preset.get("seed") or 0),
                                autocast_bf16=use_bf16(preset.get("bf16_autocast", False)) if autocast_bf16 is None else autocast_bf16)
    if dev:
        after = stats["eval"]["after"]
        print("    gold sentence ranked first on {}: {:.3f} -> {:.3f} (in the top 5: {:.3f} -> {:.3f})".format(
            eval_split, before["recall@1"], after["recall@1"], before["recall@5"], after["recall@5"]), flush=True)
    return stats
