"""`rag-dialogue experiment`: how much hallucination does retrieval remove?

Trains a no-knowledge baseline, RAG-Token, RAG-Sequence and FiD-RAG on one recipe family
(`opt_presets/<family>_*.yaml`), evaluates them and the gold-knowledge condition on
held-out conversations (`DEFAULT_SPLITS`: on the embedded default, held-out real Wizard of
Wikipedia valid-seen conversations, the unseen article conversations and real WoW test-seen
conversations with their knowledge as the index), then swaps in the
counterfactual index without retraining (Shuster et al. 2021; Lewis et al. 2020, 4.5).
"""

import contextlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from rag_dialogue import presets
from rag_dialogue.presets import WOW_SPLIT, split_options
from rag_dialogue.utils import write_json_atomic, write_text_atomic
from rag_dialogue.workers import Job, plan, run_jobs

CONDITIONS = ("no_knowledge", "gold_knowledge", "rag_token", "rag_sequence", "fid")
# The gold-knowledge model learns to speak from a given passage first; a recipe may
# start other conditions from it (`rag_dialogue_init_from: gold_knowledge`), so the
# RAG models spend their time learning to retrieve and marginalise.
TRAIN_ORDER = ("gold_knowledge", "no_knowledge", "rag_token", "rag_sequence", "fid")
RETRIEVAL = ("rag_token", "rag_sequence", "fid")
SPLITS = ("valid_wow", "test_seen", "test_unseen", "test_wow")
# what each kind of data evaluates unless --splits says otherwise. The embedded default
# leaves out its article test-seen split: templated conversations about trained topics,
# which told least (gold knowledge and both RAG models near its ceiling) and cost a
# quarter of the evaluation
DEFAULT_SPLITS = {"embedded": ("valid_wow", "test_unseen", "test_wow"), "wow": ("test_seen", "test_unseen")}
# the embedded dataset's real-WoW splits (held-out valid-seen conversations, test seen)
REAL_WOW_SPLITS = ("valid_wow", WOW_SPLIT)
# our name -> ParlAI report key
METRICS = {
    "ppl": "ppl", "f1": "f1", "kf1": "knowledge_f1", "rf1": "rare_word_f1",
    "grounding_precision": "grounding_precision", "hallucination_rate": "hallucination_rate",
    "faithful_rate": "faithful_rate", "no_claim_rate": "no_claim_rate",
    "degenerate_rate": "degenerate_rate", "hallucination_score": "hallucination_score",
    "decline_rate": "decline_rate", "read_out_rate": "read_out_rate",
}  # and recall@K, K the passages retrieved
SWAP_METRICS = ("follow_rate", "stale_rate")


@dataclass
class Config:
    family: str = "embedded"
    out: str = "runs/embedded"
    # the recipes plan their training in steps (max_train_steps), so their results repeat
    # across machines; each stage is also capped at `cap_slack` times its share of this
    # budget, a guard against a machine far slower than planned (it warns when it stops one).
    # 75 minutes leave every stage room for its planned steps on the slowest 2-core machine
    # measured (gold knowledge's 150 steps took 25 minutes there); 25 left 1.7 minutes
    budget_minutes: float = 75.0
    cap_slack: float = 2.5
    eval_examples: int = 64  # per split and condition (a multiple of the eval batch)
    swap_examples: int = 72  # turns up to the last that states a changed fact (>= 20 counted)
    # passages retrieved at evaluation (recall@3): as many as the RAG recipes train with.
    # Five cost RAG-Token and RAG-Sequence 1.5-1.6x the time for no better replies
    # (bench/bench_eval.py --before-docs 5, README "An evaluation's time")
    eval_docs: int = 3
    splits: Optional[tuple] = None  # None: DEFAULT_SPLITS of the family's data
    # each stage's cap, as a share of the training time (what is left after data
    # preparation and the evaluation reserve); in proportion to the recipes' planned steps
    # (fid: RAG-Token's 45 steps at about 0.7x its step cost, bench/bench_fid.py). Caps,
    # not slices: together they exceed the budget, as each stage rarely needs its whole cap
    train_shares: dict = field(default_factory=lambda: {
        "gold_knowledge": 0.27, "no_knowledge": 0.11, "query_encoder": 0.165, "rag_token": 0.29,
        "rag_sequence": 0.165, "fid": 0.2})
    # evaluation cost measured on 2 cores, greedy, SmolLM2-135M with bf16 inference:
    # seconds per example without and with retrieval (measured with 5 passages: a reserve
    # now that the evaluation retrieves 3), and per evaluation
    # run (model and task loading); training overhead per condition (loading, saving)
    eval_seconds: dict = field(default_factory=lambda: {
        "plain": 0.3, "retrieval": 1.5, "run": 3.0, "train_run": 20.0})
    min_train_seconds: float = 60.0  # all conditions together, whatever the budget says
    reuse_models: bool = False  # evaluate the models already in `out` instead of training
    # stages run side by side, each with its share of the cores (`workers.plan`; None: 2
    # where there are 2 cores or more); 1 runs them here, one after another
    workers: Optional[int] = None
    verbose: bool = False  # ParlAI's INFO lines on the console too (always in experiment.log)
    # every training's seed (the trainings' turn order and initial state; None: the
    # recipes' own). One seed repeats a run's figures; several show how far a training moves them
    seed: Optional[int] = None


class Progress:
    """One line per stage with elapsed time and what is left of the budget."""

    def __init__(self, stages: int, budget_s: float):
        self.start, self.stages, self.budget_s, self.done = time.time(), stages, budget_s, 0

    def elapsed(self) -> float:
        return time.time() - self.start

    def stage(self, name: str):
        self.done += 1
        left = max(0.0, self.budget_s - self.elapsed())
        print(f"\n=== [{self.done}/{self.stages}] {name}  (elapsed {self.elapsed() / 60:.1f} min, "
              f"budget left {left / 60:.1f} min)", flush=True)


def _value(metric):
    return float(metric.value()) if hasattr(metric, "value") else float(metric)


def evaluate(model_file: Path, base: dict, overrides: dict, examples: int, log_file=None) -> dict:
    """ParlAI's eval_model on `examples` examples; returns {our metric name: value}.

    With `log_file` every response is saved there with its dialogue, the knowledge the
    teacher gave and the passages retrieved (ParlAI's world-log JSONL format).
    """
    from parlai.scripts.eval_model import EvalModel

    from rag_dialogue import progress

    keep = ("datapath", "index_dir")
    opts = {k: base[k] for k in keep if base.get(k)}
    opts.update(
        model_file=str(model_file), task=base["task"], num_examples=examples,
        batchsize=base.get("eval_batchsize", base.get("batchsize", 16)), skip_generation=False,
        inference=base.get("inference", "greedy"), report_filename="",
        world_logs=str(log_file) if log_file else "", log_every_n_secs=600,
    )
    for key in ("beam_block_ngram", "beam_min_length", "beam_size"):
        if key in base:
            opts[key] = base[key]
    opts.update(overrides)
    printed = io.StringIO()  # eval_model prints its whole report; it belongs in the log
    with progress.bar(examples, "    evaluating", unit="ex"), contextlib.redirect_stdout(printed):
        report = EvalModel.main(**opts)
    logging.getLogger("rag_dialogue").info("eval_model %s: %s", model_file, printed.getvalue().strip())
    out = {ours: _value(report[key]) for ours, key in METRICS.items() if key in report}
    out.update({k: _value(report[k]) for k in report if k in SWAP_METRICS or k.startswith("recall@")})
    if "follow_rate" in report:  # how many responses stated a changed fact at all
        out["responses_stating_a_changed_fact"] = int(report["follow_rate"]._denom)
    out["examples"] = _value(report["exs"])
    return out


def print_measures(measures: dict, label: str = ""):
    """An evaluation's figures on one console line."""
    print("    " + (f"{label}: " if label else "") + "  ".join(
        f"{k} {v:.3f}" for k, v in measures.items() if k != "examples"), flush=True)


def run(config: Config) -> dict:
    from rag_dialogue import progress as bars

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "experiment.log"
    print(f"ParlAI's option dumps and reports go to {log_file}" + ("" if config.verbose else " (--verbose: here too)"))
    with bars.logs_to(log_file, verbose=config.verbose):
        return _run(config, out)


def _run(config: Config, out: Path) -> dict:
    from rag_dialogue.prepare import prepare

    budget_s = config.budget_minutes * 60
    base = presets.load(f"{config.family}_base")
    if config.seed is not None:
        base["seed"] = config.seed
    kind = base.get("rag_dialogue_data", "embedded")
    splits = tuple(s for s in config.splits or DEFAULT_SPLITS[kind]
                   if kind == "embedded" or s not in REAL_WOW_SPLITS)
    n_evals = len(CONDITIONS) * len(splits) + 2
    from rag_dialogue.retrieval.selection import fit_query_encoder, selection_steps

    selecting = selection_steps(base) > 0
    # every stage if no model is reused; set again once the jobs are known
    progress = Progress(2 + len(CONDITIONS) + selecting + n_evals, budget_s)

    progress.stage("dataset and indexes")
    prepared = prepare(base)
    progress.stage("generator")
    if not base.get("generator"):
        from rag_dialogue.generator import default_generator_dir

        base["generator"] = str(default_generator_dir())
    else:
        from rag_dialogue.causal_lm import generator_folder

        print(f"generator {base['generator']} ({generator_folder(base['generator'])})")

    cost = config.eval_seconds
    eval_reserve = n_evals * cost["run"] + cost["retrieval"] * (
        config.eval_examples * len(RETRIEVAL) * len(splits) + 2 * config.swap_examples
    ) + cost["plain"] * config.eval_examples * (len(CONDITIONS) - len(RETRIEVAL)) * len(splits) \
        + cost["train_run"] * len(TRAIN_ORDER)
    # planned from the budget, not from what is left of it: a slow data preparation (a first
    # run builds the indexes) must not cut the training that the figures depend on
    train_budget = max(config.min_train_seconds, budget_s - eval_reserve)
    workers, threads = plan(config.workers)
    if workers > 1:
        print(f"{workers} stages at a time, {threads} thread{'s' if threads > 1 else ''} each "
              f"(--workers 1: one at a time)")
    # a stage with 1/workers of the cores takes up to workers x as long: its cap grows alike
    cap = train_budget * config.cap_slack * workers
    jobs, models, planned, selection = [], {}, {}, None
    selection_job = selecting and not (config.reuse_models and (out / "query_encoder" / "selection.json").exists())
    query_encoder = out / "query_encoder"
    if selecting and not selection_job:
        print(f"reusing {query_encoder}")
        selection = json.loads((query_encoder / "selection.json").read_text())
    for condition in TRAIN_ORDER:
        extra, after = ({} if config.seed is None else {"seed": config.seed}), []
        if condition in RETRIEVAL and selecting:
            if selection_job and not any(job.name == "query_encoder" for job in jobs):
                seconds = cap * config.train_shares["query_encoder"]
                steps = selection_steps(base)
                jobs.append(Job("query_encoder", fit_query_encoder, dict(
                    preset=base, out_dir=query_encoder, max_seconds=seconds, eval_split="valid_unseen",
                    progress=workers == 1), label=f"train the query encoder to select the gold knowledge "
                    f"({steps} steps, at most {seconds / 60:.1f} min)"))
            extra["query_encoder"] = str(query_encoder)
            after += ["query_encoder"] if selection_job else []
        seconds = cap * config.train_shares[condition]
        recipe = f"{config.family}_{condition}"
        recipe_opts = presets.load(recipe)
        init_from, steps = recipe_opts.get("rag_dialogue_init_from"), recipe_opts.get("max_train_steps")
        planned[condition] = steps
        model_file = out / condition / "model"
        if init_from and init_from not in models:
            raise ValueError(f"{recipe}: rag_dialogue_init_from {init_from!r} is not trained before it "
                             f"(order: {', '.join(TRAIN_ORDER)})")
        models[condition] = model_file
        if config.reuse_models and Path(f"{model_file}.opt").exists():
            print(f"reusing {model_file}")
            continue
        if init_from:
            extra["init_model"] = str(models[init_from])
            after += [init_from] if any(job.name == init_from for job in jobs) else []
        jobs.append(Job(condition, train_stage, dict(
            recipe=recipe, model_file=model_file, seconds=seconds, steps=steps,
            generator=base.get("generator"), extra=extra), after=tuple(after),
            label=f"train {condition} ({f'{steps} steps, ' if steps else ''}at most {seconds / 60:.1f} min"
                  + (f", from the {init_from} model)" if init_from else ")")))
    jobs += evaluation_jobs(models, {job.name for job in jobs}, base, splits, config, prepared)

    results, swap, training = {c: {} for c in CONDITIONS}, {}, {}
    progress.stages = 2 + len(jobs)  # reused models are not stages

    def started(job):
        progress.stage(job.label)

    def finished(job, result, seconds):
        nonlocal selection
        if workers > 1:
            print(f"    {job.name} done in {seconds / 60:.1f} min", flush=True)
        if job.name == "query_encoder":
            selection = result
        elif job.fn is evaluate:
            print_measures(result, job.name if workers > 1 else "")
            if job.name in ("counterfactual_index", "original_index"):
                swap[job.name] = result
            else:
                condition, split = job.name.split(" on ")
                results[condition][split] = result
                _write_partial(out, results)

    run_jobs(jobs, workers, threads, on_start=started, on_done=finished,
             setup=_worker_setup, setup_args=(out / "experiment.log", config.verbose))
    if selecting:
        training["query_encoder"] = _stage_record(
            "query_encoder", selection_steps(base), selection.get("steps"), selection.get("seconds"))
    for condition in TRAIN_ORDER:
        done = _train_stats(models[condition])
        training[condition] = _stage_record(condition, planned[condition], done.get("train_steps"),
                                            done.get("train_time"))
    if swap:
        swap["follow_rate"] = swap["counterfactual_index"].get("follow_rate")
        swap["stale_rate"] = swap["counterfactual_index"].get("stale_rate")

    summary = {
        "conditions": results,
        "swap": swap,
        "knowledge_selection": selection,
        "training": training,
        "config": {**asdict(config), "preset": base},
        "wall_seconds": round(progress.elapsed(), 1),
    }
    write_results(out, summary)
    return summary


def evaluation_jobs(models: dict, trained: set, base: dict, splits, config: Config, prepared) -> list:
    """The evaluations of every condition on every split, and the index swap, as jobs that
    wait for the training of their model (if it is among `trained`)."""
    kind = base.get("rag_dialogue_data", "embedded")
    jobs = []
    for condition in CONDITIONS:
        extra = {"n_docs": config.eval_docs} if condition in RETRIEVAL else {}
        for split in splits:
            index = ({"index_dir": str(prepared.wow_test_index_dir)}
                     if split == WOW_SPLIT and condition in RETRIEVAL else {})
            jobs.append(Job(f"{condition} on {split}", evaluate, dict(
                model_file=models[condition], base=base,
                overrides={**split_options(kind, split), **extra, **index},
                examples=config.eval_examples, log_file=Path(config.out) / condition / f"{split}.jsonl"),
                after=(condition,) if condition in trained else (),
                label=f"evaluate {condition} on {split}"))
    if prepared.counterfactual_index_dir is not None:
        for name, index_dir in (("counterfactual_index", prepared.counterfactual_index_dir),
                                ("original_index", prepared.index_dir)):
            # only conversations up to their last turn that states a changed fact: the
            # follow rate counts those turns, and evaluating the others would be wasted
            jobs.append(Job(name, evaluate, dict(
                model_file=models["rag_token"], base=base,
                overrides={"va_split": "test_counterfactual", "datatype": "test", "va_changed_only": True,
                           "index_dir": str(index_dir), "n_docs": config.eval_docs},
                examples=config.swap_examples,
                log_file=Path(config.out) / "rag_token" / f"test_counterfactual.{name}.jsonl"),
                after=("rag_token",) if "rag_token" in trained else (),
                label=f"index swap: rag_token on test_counterfactual with the {name.replace('_', ' ')}"))
    return jobs


def train_stage(recipe: str, model_file: Path, seconds: float, steps, generator, extra: dict):
    """One condition's training (a job: here or in a worker process)."""
    from rag_dialogue import progress as bars
    from rag_dialogue.train import train

    with (bars.bar(steps, "    training", unit="step") if steps else bars.bar(seconds, "    training", unit="s")):
        train(recipe, (), prepare_data=False, model_file=str(model_file), max_train_time=seconds,
              generator=generator, **extra)


def _worker_setup(log_file: Path, verbose: bool):
    """A worker process: ParlAI's lines to the experiment's log, no progress bars."""
    import rag_dialogue  # noqa: F401  (ParlAI compatibility patches)
    from rag_dialogue import progress as bars

    bars.quiet()
    _WORKER_LOGS.enter_context(bars.logs_to(log_file, verbose=verbose))


_WORKER_LOGS = contextlib.ExitStack()  # open for the worker's life


def _train_stats(model_file: Path) -> dict:
    """What ParlAI's train_model recorded of a finished run (steps, seconds)."""
    try:
        return json.loads(Path(f"{model_file}.trainstats").read_text())
    except (OSError, ValueError):
        return {}


def _stage_record(stage: str, planned, steps, seconds) -> dict:
    """{planned_steps, steps, seconds} of a training stage; warns when a time guard cut it."""
    record = {"planned_steps": planned, "steps": steps,
              "seconds": round(seconds, 1) if seconds is not None else None}
    if planned and steps is not None and steps < planned:
        print(f"    WARNING: the time guard stopped {stage} after {steps} of its {planned} planned "
              "steps (this machine is far slower than planned); its figures are not comparable",
              flush=True)
        record["stopped_by_time_guard"] = True
    return record


def _write_partial(out: Path, results: dict):
    write_json_atomic(out / "results.partial.json", {"conditions": results})


def write_results(out: Path, summary: dict, quiet: bool = False):
    from rag_dialogue.report import plot_results, results_markdown

    write_json_atomic(out / "results.json", summary)
    write_text_atomic(out / "results.md", results_markdown(summary))
    plot_results(summary, out)
    (out / "results.partial.json").unlink(missing_ok=True)
    if quiet:
        return
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'} and plots "
          f"({summary['wall_seconds'] / 60:.1f} min)")
    print(results_markdown(summary))


def add_subparser(subparsers):
    for name, help_text in (
        ("experiment", "train and evaluate the no-knowledge, gold, RAG-Token, RAG-Sequence and "
                       "FiD-RAG conditions, then swap the index; writes results.json/.md and plots"),
        ("demo", "the experiment on the embedded default, then a short chat with its RAG-Token model"),
    ):
        p = subparsers.add_parser(name, help=help_text)
        p.add_argument("--preset", default="embedded",
                       help="recipe family: opt_presets/<NAME>_{base,no_knowledge,gold_knowledge,"
                       "rag_token,rag_sequence,fid}.yaml (embedded, wow_bart_large)")
        p.add_argument("--out", default=None, help="output directory (default: runs/<preset>)")
        p.add_argument("--budget-minutes", type=float, default=Config.budget_minutes,
                       help="the time the experiment is planned to take: the recipes plan their "
                       "training in steps (max_train_steps); a stage whose steps take more than "
                       f"{Config.cap_slack}x its share of this budget (times --workers) stops early, "
                       "with a warning")
        p.add_argument("--eval-examples", type=int, default=Config.eval_examples,
                       help="examples evaluated per condition and split")
        p.add_argument("--reuse-models", action="store_true",
                       help="evaluate the models a previous run left in --out instead of training")
        p.add_argument("--splits", default=None,
                       help="comma-separated evaluation splits (valid_seen, test_seen, valid_unseen, "
                       "test_unseen; embedded only: valid_wow, held-out real WoW valid-seen "
                       "conversations, and test_wow, real WoW test seen; default: "
                       f"{','.join(DEFAULT_SPLITS['embedded'])} on the embedded data, "
                       f"{','.join(DEFAULT_SPLITS['wow'])} on WoW)")
        p.add_argument("--workers", type=int, default=None,
                       help="stages run side by side, each in its own process with its share of "
                       "the cores (default: 2 where there are 2 cores or more; 1: one at a time, "
                       "here): on 2 cores two one-thread stages finish sooner than one two-thread stage")
        p.add_argument("--seed", type=int, default=None,
                       help="seed of every training and of the query encoder's (default: the "
                       "recipes' own, 0): the same seed repeats a run's figures on one machine; "
                       "other seeds show how much a training moves them")
        p.add_argument("--verbose", action="store_true",
                       help="show ParlAI's option dumps and INFO lines here too (always in OUT/experiment.log)")
        p.set_defaults(func=_main_demo if name == "demo" else _main)


def _config(args) -> Config:
    return Config(family=args.preset, out=args.out or f"runs/{args.preset}",
                  budget_minutes=args.budget_minutes, eval_examples=args.eval_examples,
                  reuse_models=args.reuse_models, verbose=args.verbose, workers=args.workers,
                  seed=args.seed,
                  splits=tuple(s.strip() for s in args.splits.split(",") if s.strip()) if args.splits else None)


def _main(args):
    run(_config(args))


def _main_demo(args):
    started = time.time()
    config = _config(args)
    summary = run(config)
    from rag_dialogue.chat import scripted_exchange

    if summary["config"]["preset"].get("rag_dialogue_data", "embedded") == "embedded":
        from rag_dialogue import madeup

        model_file = Path(config.out) / "rag_token" / "model"
        print("\n=== Made-up articles added to the index (facts no pretrained model knows); "
              "questions about facts beyond each article's first sentence, each in a new conversation")
        index = madeup.build_index(summary["config"]["preset"]["index_dir"],
                                   madeup.default_index_dir(model_file))
        found = madeup.ask(model_file, index)
        print(f"stated the made-up fact asked in {found['stated_fact']} of {found['asked']} answers")
        summary["madeup"] = found
        write_results(Path(config.out), summary, quiet=True)
    topic = _held_out_topic(summary["config"]["preset"])
    print(f"\n=== A short exchange with the RAG-Token model about a held-out article: {topic}")
    # from the experiment's index, which holds the held-out articles: `rag-dialogue chat`
    # talks from the whole packaged corpus, whose index (minutes to build) it makes at its
    # first use
    scripted_exchange(Path(config.out) / "rag_token" / "model",
                      [f"What can you tell me about {topic}?", "Interesting! Tell me more."],
                      index_dir=summary["config"]["preset"]["index_dir"])
    print(f"\ndemo finished in {(time.time() - started) / 60:.1f} min (results in {config.out})")


def _held_out_topic(base: dict) -> str:
    """The topic of the first test-unseen conversation (an article no model trained on)."""
    if base.get("rag_dialogue_data", "embedded") != "embedded":
        return "the Eiffel Tower"
    from rag_dialogue.tasks.vital_articles import build as va

    episodes = json.loads(va.split_file(base["datapath"], "test_unseen").read_text())
    return episodes[0]["chosen_topic"]
