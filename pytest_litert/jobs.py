"""Every core for the work that is not timing: cells converted and judged by N jobs.

A job has its own Runner, so it starts its own LiteRT worker; the conversion cache is safe for
concurrent writers. Results come back in cell order, so the caller prints the same `[i/N]`
progress and the same table as a serial run. `bench` never uses this: two timings running side
by side would measure each other.

Where some item needs the converter, each job is a process that imports TensorFlow once (only
if it has a cell to convert): the converter holds the GIL for much of its work. Processes are
spawned, not forked: a fork of a process that has loaded TensorFlow or LiteRT inherits their
threads' locks mid-state. Where nothing is converted (a warm cache, a bundle), a job's heavy
work is its LiteRT worker's, another process already; the jobs are then threads of this process,
which share its imports instead of paying for them again (a spawned job costs ~0.2 s to start).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from pytest_litert.run import host_worker
from pytest_litert.session import Runner, Settings

Item = TypeVar("Item")
Result = TypeVar("Result")
Work = Callable[[Runner, Item], Result]

_worker: dict[str, Runner] = {}  # in a worker process: its own Runner, set by _start_worker


def default_jobs() -> int:
    """The cores this process may use (affinity and cgroup-pinned CPUs count, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def parse_jobs(value: str) -> int:
    """`--jobs`: a positive count or `auto` (the cores); ValueError names the flag."""
    if value == "auto":
        return default_jobs()
    try:
        jobs = int(value)
    except ValueError:
        raise ValueError(f"--jobs must be a positive count or 'auto', got {value!r}") from None
    if jobs < 1:
        raise ValueError(f"--jobs must be a positive count or 'auto', got {value!r}")
    return jobs


@dataclasses.dataclass(frozen=True)
class Done(Generic[Result]):
    """One item's result, how long it took, and whether its worker converted (cache miss)."""

    result: Result
    seconds: float
    converted: int
    from_cache: int


def ordered_map(settings: Settings, work: Work[Item, Result], items: Iterable[Item], jobs: int,
                converts: Callable[[Item], bool] = lambda _: True) -> Iterator[Done[Result]]:
    """`work(runner, item)` for every item, on `jobs` jobs, yielded in item order: processes if
    `converts(item)` for some item (it would import TensorFlow), else threads. `work` must be a
    module-level function (it is pickled by name)."""
    listed = list(items)
    if jobs <= 1 or len(listed) <= 1:
        runner = Runner(settings)
        try:
            for item in listed:
                yield _timed(runner, work, item)
        finally:
            runner.close()
        return
    if not any(converts(item) for item in listed):
        yield from _on_threads(settings, work, listed, jobs)
        return
    host_worker.close_unadopted()  # this process runs no cell: its jobs do, each with its own worker
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(min(jobs, len(listed)), mp_context=context,
                                                initializer=_start_worker, initargs=(settings,)) as pool:
        futures = [pool.submit(_in_worker, work, item) for item in listed]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _on_threads(settings: Settings, work: Work[Item, Result], listed: list[Item],
                jobs: int) -> Iterator[Done[Result]]:
    """`ordered_map` on threads, each with its own Runner (and LiteRT worker), closed at the end."""
    local = threading.local()
    runners: list[Runner] = []

    def start() -> None:
        local.runner = Runner(settings)
        runners.append(local.runner)

    with concurrent.futures.ThreadPoolExecutor(min(jobs, len(listed)), initializer=start) as pool:
        try:
            yield from pool.map(lambda item: _timed(local.runner, work, item), listed)
        finally:
            pool.shutdown(cancel_futures=True)
            for runner in runners:
                runner.close()


def _start_worker(settings: Settings) -> None:
    import atexit
    import sys

    # Keras imports matplotlib.pyplot at `import tensorflow` where matplotlib is installed, for
    # plotting helpers no job calls: 0.3 s of every job's start. A job process is ours to set up.
    sys.modules.setdefault("matplotlib.pyplot", None)  # type: ignore[arg-type]  # None: "not importable"

    _worker["runner"] = Runner(settings)
    atexit.register(_worker["runner"].close)


def _in_worker(work: Work[Item, Result], item: Item) -> Done[Result]:
    return _timed(_worker["runner"], work, item)


def _timed(runner: Runner, work: Work[Item, Result], item: Item) -> Done[Result]:
    builds, hits, began = runner.cache.builds, runner.cache.hits, time.perf_counter()
    result = work(runner, item)
    return Done(result, time.perf_counter() - began, runner.cache.builds - builds, runner.cache.hits - hits)
