"""Stages side by side: one at a time with every core, against two at a time with a share each.

Takes a run's trained models (`rag-dialogue demo` leaves them in runs/embedded) and runs
the experiment's own jobs (`experiment.evaluation_jobs`: --conditions on --splits,
--examples each) both ways through `workers.run_jobs`: one worker with all the cores'
threads (how the experiment ran before), then --workers workers with their share. With
--train-steps N, two training stages join them first (the gold-knowledge and no-knowledge
recipes, N steps each, into a temporary folder). The ways alternate which goes first over
--repeats. Printed: each way's median wall seconds, their ratio measured in the same run,
the sum of the jobs' own seconds, and how many evaluations gave the same figures both ways
(threads sum in other orders, so bf16 may move a digit).

    .venv/bin/python bench/bench_workers.py --run runs/embedded [--examples 32]
        [--conditions no_knowledge,gold_knowledge,rag_token,rag_sequence,fid]
        [--splits valid_wow] [--train-steps 0] [--repeats 1] [--workers 2]
"""

import rag_dialogue  # noqa: F401  (first: ParlAI compatibility patches)
import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rag_dialogue import presets, progress
from rag_dialogue.backends import bf16_is_fast
from rag_dialogue.experiment import CONDITIONS, Config, _worker_setup, evaluation_jobs, train_stage
from rag_dialogue.prepare import prepare
from rag_dialogue.workers import Job, cores, plan, run_jobs


def jobs_for(args, out: Path, base: dict, prepared) -> list:
    conditions = args.conditions.split(",")
    config = Config(out=str(out), eval_examples=args.examples, splits=tuple(args.splits.split(",")))
    models = {c: Path(args.run) / c / "model" for c in CONDITIONS}
    jobs = [job for job in evaluation_jobs(models, set(), base, config.splits, config, prepared)
            if job.name.split(" on ")[0] in conditions]
    if args.train_steps:
        for condition in ("gold_knowledge", "no_knowledge"):
            jobs.insert(0, Job(f"train {condition}", train_stage, dict(
                recipe=f"embedded_{condition}", model_file=out / condition / "model", seconds=1e9,
                steps=args.train_steps, generator=base.get("generator"),
                extra={"max_train_steps": args.train_steps})))
    return jobs


def one_way(args, workers: int, threads: int, base: dict, prepared) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for condition in CONDITIONS:
            (out / condition).mkdir()
        seconds = {}
        started = time.time()
        if workers == 1:
            torch.set_num_threads(threads)
        with progress.logs_to(out / "bench.log"):
            results = run_jobs(jobs_for(args, out, base, prepared), workers, threads,
                               on_done=lambda job, result, s: seconds.__setitem__(job.name, s),
                               setup=_worker_setup, setup_args=(out / "bench.log", False))
        return time.time() - started, sum(seconds.values()), results


def machine() -> str:
    """The CPU's model name and whether it runs bf16 natively: what a time depends on."""
    try:
        name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    return f"{name}, {cores()} cores, {'native' if bf16_is_fast() else 'no native'} bf16"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/embedded", help="a finished experiment's folder (its models)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--splits", default="valid_wow")
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="side by side (default: workers.plan's)")
    args = parser.parse_args()

    base = presets.load("embedded_base")
    prepared = prepare(base)
    workers, threads = plan(args.workers)
    ways = {"one at a time": (1, cores()), f"{workers} at a time": (workers, threads)}
    walls = {name: [] for name in ways}
    summed = {name: [] for name in ways}
    figures = {}
    for repeat in range(args.repeats):
        order = list(ways) if repeat % 2 == 0 else list(ways)[::-1]
        for name in order:
            wall, jobs_seconds, results = one_way(args, *ways[name], base, prepared)
            walls[name].append(wall)
            summed[name].append(jobs_seconds)
            figures[name] = {k: v for k, v in results.items() if isinstance(v, dict)}
            print(f"  {name}: {wall:.1f} s (the jobs' own seconds: {jobs_seconds:.1f})", flush=True)

    first, second = list(ways)
    same = sum(figures[first][k] == figures[second][k] for k in figures[first])
    print(f"\n{machine()}: {len(figures[first])} evaluations of {args.examples} examples"
          + (f" and 2 trainings of {args.train_steps} steps" if args.train_steps else "")
          + f", {args.repeats} repeat(s)")
    print("| way | workers x threads | median wall s | the jobs' own s | ratio to one at a time |")
    print("|---|---|---:|---:|---:|")
    for name, (w, t) in ways.items():
        print(f"| {name} | {w} x {t} | {statistics.median(walls[name]):.1f} | "
              f"{statistics.median(summed[name]):.1f} | "
              f"{statistics.median(walls[name]) / statistics.median(walls[first]):.2f} |")
    print(f"evaluations with the same figures both ways: {same} of {len(figures[first])}")
    for k in figures[first]:
        if figures[first][k] != figures[second][k]:
            moved = {m: (round(figures[first][k][m], 4), round(figures[second][k].get(m, float('nan')), 4))
                     for m in figures[first][k] if figures[first][k][m] != figures[second][k].get(m)}
            print(f"  {k}: {moved}")


if __name__ == "__main__":
    main()
