"""The experiment's independent stages side by side, on worker processes with a share of the cores each.

On 2 CPU cores a stage is not twice as fast with two threads as with one: one thread took
1.5x the time of two over an evaluation and 1.66x over a training step, and two
one-thread processes side by side did not slow each other (README, "Two stages at a
time"). So two workers of one thread each finish the same stages in less time than one
worker with two threads. `run_jobs` runs each job once the jobs it waits for have
finished, in the order given among those ready.
"""

import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple


@dataclass
class Job:
    name: str
    fn: Callable  # a module-level function: worker processes are spawned and import it
    kwargs: dict
    after: Tuple[str, ...] = ()  # the jobs that must finish first
    label: str = ""  # what the console says when it starts


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan(workers: Optional[int] = None) -> Tuple[int, int]:
    """(workers, torch threads each): `workers`, or 2 where there are 2 cores or more."""
    n = cores()
    chosen = workers if workers else (2 if n >= 2 else 1)
    chosen = max(1, min(chosen, n))
    return chosen, max(1, n // chosen)


def _start_worker(threads: int, setup: Optional[Callable], setup_args: tuple):
    import torch

    torch.set_num_threads(threads)
    if setup is not None:
        setup(*setup_args)


def _checked(jobs: Sequence[Job]) -> List[Job]:
    """The jobs, as a list, once their names are unique and what they wait for exists."""
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names repeat: {names}")
    for job in jobs:
        unknown = [a for a in job.after if a not in names]
        if unknown:
            raise ValueError(f"job {job.name} waits for unknown jobs {unknown}")
    return list(jobs)


def run_jobs(jobs: Sequence[Job], workers: int = 1, threads: int = 1,
             on_start: Callable[[Job], None] = lambda job: None,
             on_done: Callable[[Job, object, float], None] = lambda job, result, seconds: None,
             setup: Optional[Callable] = None, setup_args: tuple = ()) -> dict:
    """Run every job once all its `after` jobs have finished; returns {name: result}.

    `workers` == 1 runs them here, one after another (the first ready in the given order
    each time). More run in that many spawned processes with `threads` torch threads
    each; `setup(*setup_args)` runs first in each (logging, quiet progress bars).
    `on_start(job)` and `on_done(job, result, seconds)` run here, in this process. A job
    that raises stops the run: no further job starts, and the error names the job.
    """
    pending, results = _checked(jobs), {}

    def ready():
        return [job for job in pending if all(a in results for a in job.after)]

    if workers <= 1:
        while pending:
            waiting = ready()
            if not waiting:
                raise ValueError(f"jobs wait for each other: {[j.name for j in pending]}")
            job = waiting[0]
            pending.remove(job)
            on_start(job)
            started = time.time()
            try:
                results[job.name] = job.fn(**job.kwargs)
            except Exception as e:
                raise RuntimeError(f"{job.name} failed: {e}") from e
            on_done(job, results[job.name], time.time() - started)
        return results

    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    running = {}
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                initargs=(threads, setup, setup_args)) as pool:
        try:
            while pending or running:
                for job in ready()[: workers - len(running)]:
                    pending.remove(job)
                    on_start(job)
                    running[pool.submit(job.fn, **job.kwargs)] = (job, time.time())
                if not running:
                    raise ValueError(f"jobs wait for each other: {[j.name for j in pending]}")
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    job, started = running.pop(future)
                    try:
                        results[job.name] = future.result()
                    except Exception as e:
                        raise RuntimeError(f"{job.name} failed: {e}") from e
                    on_done(job, results[job.name], time.time() - started)
        except BaseException:
            # the stages still running would go on for minutes: end this run's workers now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results
