"""Where the per-bucket work of a stage runs: in this process, one bucket after another, or on a Dask cluster.

A stage (:mod:`churnml.pipeline`) hands an engine a function and the buckets to run it on; the function reads its
own bucket, so only small things travel: the data handle, the config, the model, the population context, and
results of a few bytes per customer. Both engines return the results in bucket order, so what the stage makes of
them does not depend on where they were computed.

``--engine dask --scheduler local:N`` starts a ``LocalCluster`` of N single-threaded worker processes for the run;
``--scheduler tcp://HOST:PORT`` uses a running scheduler (its workers must see the dataset's folder at the same path).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from churnml.errors import ChurnMLError, ExitCode


class EngineError(ChurnMLError):
    """``--engine``/``--scheduler`` name no engine this run can use: a malformed value or an unreachable scheduler."""

    exit_code = ExitCode.USAGE


class Engine(Protocol):
    name: str

    def map(self, fn: Callable[..., Any], buckets: Sequence[Any], *shared: Any, label: str = "") -> list[Any]:
        """``[fn(bucket, *shared) for bucket in buckets]``, wherever the engine runs it."""
        ...

    def summary(self) -> dict[str, Any]:
        """Where the work ran, for the run manifest."""
        ...


class LocalEngine:
    """One bucket after another in this process: memory follows one bucket, not the population."""

    name = "local"

    def __init__(self, progress: bool = False):
        self.progress = progress
        self.tasks = 0

    def summary(self) -> dict[str, Any]:
        return {"kind": self.name, "tasks": self.tasks}

    def map(self, fn: Callable[..., Any], buckets: Sequence[Any], *shared: Any, label: str = "") -> list[Any]:
        self.tasks += len(buckets)
        items: Any = buckets
        if self.progress and label and len(buckets) > 1:
            from rich.progress import track

            items = track(buckets, description=label, total=len(buckets), transient=True)
        return [fn(bucket, *shared) for bucket in items]


class DaskEngine:
    """One task per bucket on a Dask cluster; what every task shares is scattered to the workers once."""

    name = "dask"

    def __init__(self, client: Any, progress: bool = False, scheduler: str = ""):
        self.client = client
        self.progress = progress
        self.scheduler = scheduler
        self.tasks_by_worker: dict[str, int] = {}
        self._maps = 0
        self._run = uuid.uuid4().hex[:12]  # keys stay unique across maps, runs and clients sharing a scheduler

    def summary(self) -> dict[str, Any]:
        """Tasks per worker as the scheduler placed them: proof the buckets were worked on the cluster."""
        workers = self.client.scheduler_info().get("workers", {})
        return {
            "kind": self.name, "scheduler": self.scheduler, "workers": len(workers),
            "tasks": sum(self.tasks_by_worker.values()), "tasks_by_worker": dict(sorted(self.tasks_by_worker.items())),
        }

    def map(self, fn: Callable[..., Any], buckets: Sequence[Any], *shared: Any, label: str = "") -> list[Any]:
        if not buckets:
            return []
        # Wrapped in a list: scatter would send a list or dict argument element by element.
        sent = [self.client.scatter([value], broadcast=True, hash=False)[0] for value in shared]
        self._maps += 1
        prefix = f"{(label or fn.__name__).replace(' ', '-')}-{self._run}-{self._maps}"
        # A key already known to the scheduler would hand back that task's result: every key here is new.
        futures = [self.client.submit(fn, bucket, *sent, pure=False, key=f"{prefix}-{k}") for k, bucket in enumerate(buckets)]
        try:
            if self.progress and label:
                from distributed import as_completed
                from rich.progress import Progress

                with Progress(transient=True) as bar:
                    task = bar.add_task(label, total=len(futures))
                    for _ in as_completed(futures):
                        bar.advance(task)
            results = self.client.gather(futures)  # in bucket order; a task's exception is raised here, as it was raised
            for holders in self.client.who_has(futures).values():
                for worker in holders[:1]:
                    self.tasks_by_worker[worker] = self.tasks_by_worker.get(worker, 0) + 1
            return results
        finally:
            for future in (*futures, *sent):
                future.release()


def _local_workers(scheduler: str) -> int | None:
    if not scheduler.startswith("local:"):
        return None
    text = scheduler.removeprefix("local:")
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise EngineError(f"--scheduler {scheduler}: local:N needs N, the worker processes to start, from 1 to 256 (e.g. local:2)")
    return int(text)


@contextmanager
def engine(kind: str = "local", scheduler: str | None = None, *, progress: bool = False) -> Iterator[Engine]:
    """The engine a command runs on: ``local``, or ``dask`` on ``scheduler`` (``local:N`` or an address)."""
    if kind == "local":
        if scheduler is not None:
            raise EngineError("--scheduler is for --engine dask; drop it, or add --engine dask")
        yield LocalEngine(progress)
        return
    if kind != "dask":
        raise EngineError(f"--engine {kind}: unknown engine; use local or dask")
    if not scheduler:
        raise EngineError("--engine dask needs --scheduler: local:N to start N worker processes here, or the address of a running scheduler (tcp://HOST:8786)")
    import dask
    from distributed import Client, LocalCluster

    workers = _local_workers(scheduler)
    # Workers run one task at a time each: a bucket's memory, not threads x buckets, per process.
    with dask.config.set({"distributed.worker.daemon": False}):
        if workers is not None:
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
                yield DaskEngine(client, progress, scheduler)
            return
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise EngineError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc}); check the address, or use local:N") from None
        with client:
            yield DaskEngine(client, progress, scheduler)
