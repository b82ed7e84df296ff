"""One way to run many independent tasks (songs): in this process, on a local process pool, or
on a Ray cluster; ``mixassist batch``, ``eval`` and ``data synth`` all go through it.

A task is a picklable top-level function and its arguments. Every executor returns, per task,
an :class:`Outcome`: the value or a one-line error, the seconds it took and the peak resident
memory of the process that ran it during the task. Nothing here knows about mixing.

* :class:`InProcess` runs the tasks one after another here (``--workers 1``).
* :class:`LocalPool` starts one ``spawn`` process per worker, each with one compute thread
  (torch, OpenMP, BLAS, numba), so ``N`` workers use ``N`` cores and never oversubscribe
  them. A worker that dies (a signal, the kernel's out-of-memory killer) takes only its own
  task with it: a fresh worker takes its place, the task is retried once and, if its worker
  dies again, recorded as failed with the signal. (``concurrent.futures`` would break the
  whole pool and lose track of which task killed it.)
* :class:`RayExecutor` runs the same function as a Ray task (``num_cpus=1``, one thread, one
  retry if its worker dies). Ray is the optional extra ``mixassist[cluster]``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from mixassist.errors import InvalidParameterError, MissingDependencyError

__all__ = [
    "Task",
    "Outcome",
    "Executor",
    "InProcess",
    "LocalPool",
    "RayExecutor",
    "make_executor",
    "default_workers",
    "one_thread",
    "peak_rss_mb",
    "reset_peak_rss",
    "raise_first_error",
    "CLUSTER_HINT",
]

log = logging.getLogger(__name__)

#: What to install for ``--ray``.
CLUSTER_HINT = "pip install mixassist[cluster]"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its task errors
#: The environment that keeps a worker on one compute thread (read when the libraries load).
_ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)``, named ``key`` (a song) in outcomes and progress."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass
class Outcome:
    """What became of a :class:`Task`.

    Attributes
    ----------
    key : str
    value : object
        ``fn``'s return value (``None`` when it failed).
    error : str or None
        One line: the exception's type and message, or how the process died.
    exception : BaseException or None
        The exception itself where it could be carried back (re-raised by
        :func:`raise_first_error`).
    seconds : float
        Wall time of the last attempt, in the process that ran it.
    cpu_s : float
        CPU time of that process during the task (all its threads).
    peak_rss_mb : float or None
        Peak resident memory of that process during the task (Linux: VmHWM after resetting it
        at the start; elsewhere the process's lifetime peak).
    attempts : int
        1, or 2 after a retry of a task whose process died.
    """

    key: str
    value: Any = None
    error: str | None = None
    exception: BaseException | None = None
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    attempts: int = 1
    cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """Runs tasks; ``on_done(outcome)`` is called in this process as each one finishes."""

    workers: int

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """The outcomes, in the order of ``tasks``."""
        ...


# ---------------------------------------------------------------------- inside a worker


def one_thread() -> None:
    """Keep this process on one compute thread (a pool worker's initializer; Ray tasks)."""
    os.environ.update(_ONE_THREAD_ENV)
    if "torch" in sys.modules or _torch_installed():
        import torch  # lazy: only a worker that computes needs it, and it takes seconds

        torch.set_num_threads(1)


def _torch_installed() -> bool:
    import importlib.util  # lazy: rarely needed

    return importlib.util.find_spec("torch") is not None


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs`` 5); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (VmHWM; else ``getrusage``'s lifetime peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _one_line(exc: BaseException) -> str:
    """An exception as one line: our errors as their message, others with their type."""
    from mixassist.errors import MixAssistError  # lazy: a cycle-free import inside workers

    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, MixAssistError) else f"{type(exc).__name__}: {text}"


def _measured(key: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    """``fn(*args)`` with its time and memory; an exception becomes the outcome's error."""
    reset_peak_rss()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        value = fn(*args)
    except Exception as exc:  # any task's failure is recorded, never lets the batch stop
        error: tuple[str | None, BaseException | None] = (_one_line(exc), _portable(exc))
        value = None
    else:
        error = (None, None)
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return Outcome(key, value, error[0], error[1], seconds, peak_rss_mb(), cpu_s=cpu_s)


def _portable(exc: BaseException) -> BaseException | None:
    """``exc`` if it survives pickling (it crosses a process boundary), else None."""
    import pickle  # lazy: rarely needed

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # an exception with unpicklable state: its one line is kept
        return None
    return exc


def _worker(connection: Connection) -> None:
    """A :class:`LocalPool` worker: one compute thread; tasks from ``connection`` until ``None``.
    Ctrl-C reaches the whole process group: the pool, not each worker, answers it (it stops
    the workers; what they staged is removed by the next run)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    one_thread()
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the pool is gone
            return
        if message is None:
            return
        key, fn, args = message
        connection.send(_measured(key, fn, args))


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "an unknown cause"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"{name}{hint}"
    return f"exit code {exitcode}"


# ---------------------------------------------------------------------- executors


def default_workers(memory_per_worker_gb: float = 0.0) -> int:
    """One worker per core, fewer where ``memory_per_worker_gb`` times the count would not fit
    in the memory available now (Linux ``MemAvailable``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if memory_per_worker_gb <= 0:
        return max(1, cores)
    try:
        with open("/proc/meminfo") as f:
            available_kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return max(1, cores)
    return max(1, min(cores, int(available_kb / (memory_per_worker_gb * 1024 * 1024))))


class InProcess:
    """Every task here, one after another (no other process; a crash ends the run)."""

    workers = 1

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        outcomes = []
        for task in tasks:
            outcome = _measured(task.key, task.fn, task.args)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
        return outcomes


class LocalPool:
    """``workers`` spawned processes on this machine, one compute thread each, each running
    one task at a time. A worker that dies takes only its own task with it: the task goes
    back to the queue once (a fresh worker takes its place) and is recorded as failed, with
    the signal, if it dies again."""

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidParameterError(f"workers={workers!r} must be a positive integer")
        self.workers = workers

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        context = multiprocessing.get_context("spawn")  # clean workers: nothing inherited
        queue = deque(range(len(tasks)))
        attempts = [0] * len(tasks)
        results: dict[int, Outcome] = {}
        processes: dict[Connection, BaseProcess] = {}
        busy: dict[Connection, int] = {}

        def finish(index: int, outcome: Outcome) -> None:
            outcome.attempts = attempts[index]
            results[index] = outcome
            if on_done is not None:
                on_done(outcome)

        def feed(connection: Connection) -> None:
            if not queue:
                connection.send(None)  # no more work: the worker exits
                return
            index = queue.popleft()
            attempts[index] += 1
            connection.send((tasks[index].key, tasks[index].fn, tasks[index].args))
            busy[connection] = index

        def start() -> None:
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            processes[ours] = process
            feed(ours)

        try:
            for _ in range(min(self.workers, len(tasks))):
                start()
            while busy:
                by_sentinel = {processes[c].sentinel: c for c in busy}
                for ready in wait_for([*busy, *by_sentinel]):
                    connection = by_sentinel[ready] if isinstance(ready, int) else ready
                    if not isinstance(connection, Connection) or connection not in busy:
                        continue
                    if connection.poll():  # a result (read before its sender's death is looked at)
                        try:
                            outcome = connection.recv()
                        except (EOFError, OSError):
                            outcome = None
                        if outcome is not None:
                            finish(busy.pop(connection), outcome)
                            feed(connection)
                            continue
                    if processes[connection].is_alive():
                        continue
                    index = busy.pop(connection)
                    process = processes.pop(connection)
                    process.join()
                    connection.close()
                    died = _signal_name(process.exitcode)
                    if attempts[index] < 2:
                        log.warning("%s: its worker died (%s); retrying it once", tasks[index].key, died)
                        queue.appendleft(index)
                    else:
                        finish(index, Outcome(tasks[index].key, None, f"worker process killed by {died}, twice"))
                    if queue:
                        start()
        finally:  # normally every worker was told to stop; after an interruption, stop them
            for connection, process in processes.items():
                if connection in busy:
                    process.terminate()
                process.join(timeout=10)
                connection.close()
        return [results[i] for i in range(len(tasks))]


class RayExecutor:
    """Tasks on a Ray cluster: ``address`` ``"auto"`` connects to the cluster this machine
    belongs to (else starts a local one), ``"HOST:PORT"`` to that head, ``None`` uses the Ray
    runtime already initialised in this process (or starts a local one). Each task asks for one
    CPU and ``memory_gb`` of memory (Ray's scheduler places no more tasks on a node than its
    memory holds; 0: no request)."""

    def __init__(self, address: str | None = "auto", *, memory_gb: float = 0.0) -> None:
        try:
            import ray  # lazy: the optional extra mixassist[cluster]
        except ImportError as exc:
            raise MissingDependencyError(f"--ray needs Ray, which is not installed: {CLUSTER_HINT}") from exc
        self._ray = ray
        if not ray.is_initialized():
            env = {"env_vars": dict(_ONE_THREAD_ENV)}
            kwargs: dict[str, Any] = {"runtime_env": env, "log_to_driver": False, "include_dashboard": False}
            if address not in (None, "auto"):
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"--ray {address}: no Ray cluster there ({' '.join(str(exc).split())[:200]}); "
                    "start one with `ray start --head` or pass its HOST:PORT"
                ) from exc
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 1}
        if memory_gb > 0:
            options["memory"] = int(memory_gb * 1e9)
        self._remote = ray.remote(**options)(_ray_task)

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        ray = self._ray
        refs = {self._remote.remote(task.key, task.fn, task.args): i for i, task in enumerate(tasks)}
        results: dict[int, Outcome] = {}
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                index = refs[ref]
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died twice, or the node
                    reason = " ".join(_ANSI.sub("", str(exc)).split())[:300]
                    outcome = Outcome(tasks[index].key, None, f"Ray task failed: {reason}", None, 0.0, None, 2)
                results[index] = outcome
                if on_done is not None:
                    on_done(outcome)
        return [results[i] for i in range(len(tasks))]


def _ray_task(key: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    one_thread()
    return _measured(key, fn, args)


def make_executor(workers: int | None = None, ray: str | None = None, *, memory_per_worker_gb: float = 0.0) -> Executor:
    """The executor the CLI's ``--workers N`` / ``--ray ADDRESS`` ask for: Ray when ``ray`` is
    given, else a local pool of ``workers`` (default :func:`default_workers`), in this process
    for one worker."""
    if ray is not None:
        return RayExecutor(ray, memory_gb=memory_per_worker_gb)
    if workers is None:
        workers = default_workers(memory_per_worker_gb)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(f"--workers {workers!r}: give a positive number of processes")
    return InProcess() if workers == 1 else LocalPool(workers)


def raise_first_error(outcomes: Sequence[Outcome]) -> None:
    """Re-raise the first failed outcome's exception (or an error with its line): for callers
    whose whole run fails with one task, as a sequential loop would."""
    for outcome in outcomes:
        if outcome.ok:
            continue
        if outcome.exception is not None:
            raise outcome.exception
        from mixassist.errors import MixAssistError  # lazy: see _one_line

        raise MixAssistError(f"{outcome.key}: {outcome.error}")
