"""Where a training step and an evaluation batch of each condition spend their time.

For each recipe (gold knowledge, no knowledge, RAG-Token, RAG-Sequence of the embedded
family, or --family), builds the agent as `rag-dialogue train` does, takes real batches
from its teacher, and runs them through the agent's own `batch_act` (training: a step with
backward and optimiser; evaluation: the loss pass and greedy generation). Timers on the
model's parts split each step into:

  retrieval     query encoding and the FAISS search (with the query encoder's backward)
  frozen fwd    the generator's frozen bottom layers (no autograd)
  trained fwd   its trained top layers and final norm
  output layer  the 49k-token projection (training: at the targets only)
  backward      autograd through the trained layers and the query encoder
  optimiser     clipping and AdamW
  rest          everything else: ParlAI's batching and metrics, tokenisation, marginalisation,
                search bookkeeping

and reports the share of prompt token positions that are padding (left padding to the
batch's longest prompt). The times are medians over --steps batches after one warm-up;
their shares are what to read, since the machine may be noisy (the run names its CPU).

With --against-one-pass each batch also runs with every row padded to the batch's
longest (one pass, as before `backends.length_groups`), alternating which goes first, and
the table gains that median, the ratio of the two measured in the same run, and the ratio
of the token positions the layers computed (what the clock should follow on a quiet machine).

    .venv/bin/python bench/bench_stages.py [--steps 3] [--stages gold_knowledge,rag_token] [--eval]
        [--against-one-pass]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import collections
import contextlib
import os
import platform
import statistics
import tempfile
import time

import torch

STAGES = ("gold_knowledge", "no_knowledge", "rag_token", "rag_sequence")
PARTS = ("retrieval", "frozen fwd", "trained fwd", "output layer", "backward", "optimiser", "rest")


class Timers:
    """Seconds per part of the current step, from wrappers and forward hooks."""

    def __init__(self):
        self.seconds = collections.Counter()
        self.tokens = collections.Counter()  # real and padded token positions through the body

    def wrap(self, owner, name: str, part: str):
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started

        setattr(owner, name, timed)

    def time_layers(self, layers, part: str):
        """Forward time of a run of consecutive modules (first's start to last's end)."""
        starts = []
        layers[0].register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))

        def done(*_):
            self.seconds[part] += time.perf_counter() - starts.pop()

        layers[-1].register_forward_hook(done)


def build(stage: str, family: str, datatype: str):
    from parlai.core.agents import create_agent
    from parlai.core.params import ParlaiParser
    from parlai.core.worlds import create_task

    from rag_dialogue import presets
    from rag_dialogue.prepare import prepare

    preset = presets.load(f"{family}_{stage}")
    prepare(preset)
    options = {k: v for k, v in presets.parlai_options(preset).items() if not k.startswith("rag_dialogue_")}
    parser = ParlaiParser(True, True)
    parser.set_params(**options)
    model_file = os.path.join(tempfile.mkdtemp(prefix="bench_stages_"), "model")
    opt = parser.parse_args(["--model-file", model_file, "--datatype", datatype, "--skip-generation", "false"])
    agent = create_agent(opt)
    world = create_task(opt, agent)
    return agent, world.get_agents()[0]


def instrument(agent, timers: Timers):
    model = agent.model
    backend = model.backend
    body = backend._body
    layers = list(body.layers)
    trained = [i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())]
    first_trained = trained[0] if trained else len(layers)
    if first_trained > 0:
        timers.time_layers(layers[:first_trained], "frozen fwd")
    top = layers[first_trained:] + [body.norm]
    timers.time_layers(top, "trained fwd")
    timers.wrap(backend, "project", "output layer")
    if getattr(model, "retriever", None) is not None:
        timers.wrap(model, "retrieve", "retrieval")
    timers.wrap(agent, "backward", "backward")
    timers.wrap(agent, "update_params", "optimiser")
    contexts = backend.contexts

    def counted(*args, **kwargs):
        ids, mask = contexts(*args, **kwargs)
        timers.tokens["real"] += int(mask.sum())
        timers.tokens["positions"] += mask.numel()
        return ids, mask

    backend.contexts = counted
    for name in ("_forced_hidden_rows", "_prefill_rows"):
        inner = getattr(backend, name)

        def passed(ids, mask, *rest, inner=inner):  # token positions through the layers
            timers.tokens["through layers"] += ids.numel() + (rest[0].numel() if rest else 0)
            return inner(ids, mask, *rest)

        setattr(backend, name, passed)


def run_stage(stage: str, family: str, steps: int, evaluate: bool, against_one_pass: bool):
    from rag_dialogue import backends

    agent, teacher = build(stage, family, "valid" if evaluate else "train")
    timers = Timers()
    instrument(agent, timers)
    batch_size = agent.opt["eval_batchsize"] if evaluate and agent.opt.get("eval_batchsize") else agent.opt["batchsize"]
    totals, shares, one_pass = [], collections.defaultdict(list), []
    grouped_overhead = backends._GROUP_OVERHEAD

    def act(observations, overhead):
        backends._GROUP_OVERHEAD = overhead
        timers.seconds.clear()
        started = time.perf_counter()
        with torch.no_grad() if evaluate else contextlib.nullcontext():
            agent.batch_act(observations)
        return time.perf_counter() - started

    positions = collections.Counter()
    for i in range(steps + 1):
        clones = [agent.clone() for _ in range(batch_size)]
        observations = [c.observe(teacher.act()) for c in clones]
        if against_one_pass and i % 2:
            one = act(observations, 10**9)
            positions["one pass"] += timers.tokens.pop("through layers", 0)
        total = act(observations, grouped_overhead)
        seconds = dict(timers.seconds)
        positions["grouped"] += timers.tokens.pop("through layers", 0)
        if against_one_pass and not i % 2:
            one = act(observations, 10**9)
            positions["one pass"] += timers.tokens.pop("through layers", 0)
        if i == 0:
            timers.tokens.clear()
            positions.clear()
            continue  # warm-up
        totals.append(total)
        if against_one_pass:
            one_pass.append(one)
        seconds["rest"] = total - sum(seconds.values())
        for part in PARTS:
            shares[part].append(seconds.get(part, 0.0))
    median = statistics.median(totals)
    padding = 1 - timers.tokens["real"] / max(1, timers.tokens["positions"])
    cells = " | ".join(f"{statistics.median(shares[p]):.2f} ({statistics.median(shares[p]) / median:.0%})"
                       for p in PARTS)
    what = "eval batch" if evaluate else "train step"
    extra = ""
    if against_one_pass:
        extra = (f" {statistics.median(one_pass):.2f} | {median / statistics.median(one_pass):.2f} | "
                 f"{positions['grouped'] / max(1, positions['one pass']):.2f} |")
    print(f"| {stage} {what} ({batch_size} ex) | {median:.2f} | {cells} | {padding:.0%} |{extra}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="embedded")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--steps", type=int, default=3, help="timed batches per stage (after one warm-up)")
    ap.add_argument("--eval", action="store_true", help="evaluation batches instead of training steps")
    ap.add_argument("--against-one-pass", action="store_true",
                    help="also time each batch with all rows padded to the longest, in one pass")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}; seconds (share of the step)")
    extra = " one pass s | ratio | positions ratio |" if args.against_one_pass else ""
    print("| stage | median s | " + " | ".join(PARTS) + " | prompt padding |" + extra)
    print("|---|---:|" + "---:|" * (len(PARTS) + 1) + "---:|" * (3 if args.against_one_pass else 0))
    for stage in args.stages.split(","):
        run_stage(stage.strip(), args.family, args.steps, args.eval, args.against_one_pass)


if __name__ == "__main__":
    main()
