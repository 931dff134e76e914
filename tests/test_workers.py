"""Jobs run once what they wait for has finished, here or on spawned worker processes."""

import statistics

import pytest

from rag_dialogue.workers import Job, plan, run_jobs


def _jobs():
    # module-level functions of the standard library: a spawned worker imports them
    return [
        Job("sum", statistics.fmean, dict(data=[4, 6]), after=("square", "root")),
        Job("square", statistics.median, dict(data=[1, 16, 30])),
        Job("root", statistics.fmean, dict(data=[2.0, 6.0])),
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_start_after_what_they_wait_for(workers):
    started, done = [], []
    results = run_jobs(_jobs(), workers=workers, threads=1, on_start=lambda job: started.append(job.name),
                       on_done=lambda job, result, seconds: done.append((job.name, result)))
    assert results == {"square": 16, "root": 4.0, "sum": 5.0}
    assert started.index("sum") > max(started.index("square"), started.index("root"))
    assert done[-1] == ("sum", 5)
    if workers == 1:  # one at a time, the first ready in the given order
        assert started == ["square", "root", "sum"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_stops_the_run_and_is_named(workers):
    jobs = [Job("no data", statistics.fmean, dict(data=[])),
            Job("after it", statistics.fmean, dict(data=[4.0]), after=("no data",))]
    started = []
    with pytest.raises(RuntimeError, match="no data failed: fmean requires at least one data point"):
        run_jobs(jobs, workers=workers, threads=1, on_start=lambda job: started.append(job.name))
    assert "after it" not in started


def test_bad_job_lists_are_refused():
    with pytest.raises(ValueError, match="unknown jobs"):
        run_jobs([Job("a", statistics.fmean, dict(data=[1.0]), after=("b",))])
    with pytest.raises(ValueError, match="wait for each other"):
        run_jobs([Job("a", statistics.fmean, dict(data=[1.0]), after=("b",)), Job("b", statistics.fmean, dict(data=[1.0]), after=("a",))])
    with pytest.raises(ValueError, match="repeat"):
        run_jobs([Job("a", statistics.fmean, dict(data=[1.0])), Job("a", statistics.fmean, dict(data=[1.0]))])


def test_the_plan_shares_the_cores(monkeypatch):
    monkeypatch.setattr("rag_dialogue.workers.cores", lambda: 2)
    assert plan() == (2, 1) and plan(1) == (1, 2) and plan(8) == (2, 1)
    monkeypatch.setattr("rag_dialogue.workers.cores", lambda: 1)
    assert plan() == (1, 1)
    monkeypatch.setattr("rag_dialogue.workers.cores", lambda: 8)
    assert plan() == (2, 4)
