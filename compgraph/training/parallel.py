"""How ``compgraph train`` runs data-parallel when launched by ``mpiexec -n N`` (N > 1).

A run under MPI is detected from the launcher's environment, without importing mpi4py (whose
MPI module starts MPI): ``PMI_SIZE`` (MPICH's Hydra, Intel MPI, Slurm's PMI) or
``OMPI_COMM_WORLD_SIZE`` (Open MPI) above 1. A plain run gets ``Workers()`` of one process,
whose methods do nothing, and never imports ``compgraph.distributed``.

Rank 0 ("the root") is the one process that reads checkpoints, writes weights, checkpoints and
plots and prints; the others receive what it read. ``root_first`` runs the steps that can fail
on bad input (reading a checkpoint, resolving the config, loading data) on the root first: if
it fails there, every process raises (the others ``PeerFailedError``, which ``compgraph train``
turns into the root's exit status without a second message), so all exit, none waits.

Ctrl-C: mpiexec passes it to every process. Raised where each process happens to be, it
would stop one inside a collective call that another has left (which then waits forever, or
fails on a mismatched message), or be lost in a callback ("Exception ignored in ..."). So
during the training steps (``interruptible_steps``) Ctrl-C only sets a flag, which rides in
each step's Allreduce: every process sees it after the same step and raises
KeyboardInterrupt there, and the run stops as one process's does (rolled back to the last
save, exit status 130). A Ctrl-C outside the steps (loading data) ends the job at once
(``end_interrupted``: MPI_Abort, status 130).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

#: The exit status of a run stopped by Ctrl-C (128 + SIGINT), as one process gives it
#: (compgraph.cli's EXIT_INTERRUPTED; the CLI does not import this module until it trains).
EXIT_INTERRUPTED = 130
#: How long a process other than the root waits after Ctrl-C before it ends the job, so that
#: the root, if it is not stuck in a collective call, prints what was kept first.
ROOT_GRACE_SECONDS = 1.0
#: The launchers' variables holding the number of processes, and this process's number.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")
T = TypeVar("T")


def _first_int(names: Sequence[str], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def launched_size() -> int:
    """The number of processes ``mpiexec`` started, from its environment (1 without it)."""
    return _first_int(SIZE_VARIABLES, 1)


def launched_rank() -> int:
    """This process's number among them, from the launcher's environment (0 without it)."""
    return _first_int(RANK_VARIABLES, 0)


class PeerFailedError(Exception):
    """Raised on the other processes when a step the root ran first failed there; ``kind``
    is the root's exception class (the root reports the error itself)."""

    def __init__(self, kind: type[BaseException]):
        super().__init__(f"process 0 failed with {kind.__name__}")
        self.kind = kind


class Workers:
    """The processes of one training run: ``rank`` of ``size``; one process unless launched by
    mpiexec with several (``workers()``)."""

    def __init__(self, distributed: Any = None):
        self.dist = distributed  # the compgraph.distributed module, or None for one process
        self.rank = distributed.rank() if distributed else 0
        self.size = distributed.size() if distributed else 1
        self.ctrl_c = False  # Ctrl-C seen during interruptible_steps, not yet acted on

    @property
    def root(self) -> bool:
        return self.rank == 0

    def root_first(self, step: Callable[[], T], *, share: bool = False, others: bool = True) -> T | None:
        """``step()`` on the root; on the others afterwards (``others``), or the root's result
        (``share``, a picklable value), or None. A failure on the root is raised everywhere."""
        if self.dist is None:
            return step()
        comm = self.dist._world()
        result: Any = None
        if self.root:
            try:
                result = step()
            except BaseException as exc:
                comm.bcast(("failed", type(exc)), root=0)
                exc.compgraph_shared = True  # type: ignore[attr-defined]  # every process knows
                raise
            comm.bcast(("ok", result if share else None), root=0)
            return result
        status, value = comm.bcast(None, root=0)
        if status == "failed":
            raise PeerFailedError(value)
        if share:
            return value
        return step() if others else None

    def bcast(self, value: T) -> T:
        """The root's ``value`` on every process (pickled)."""
        return value if self.dist is None else self.dist._world().bcast(value, root=0)

    def gather(self, value: T) -> list[T] | None:
        """Every process's ``value``, in rank order, on the root (None elsewhere)."""
        return [value] if self.dist is None else self.dist._world().gather(value, root=0)

    def shard(self, array: np.ndarray) -> np.ndarray:
        """This process's contiguous rows of one global batch (all of it for one process)."""
        if self.dist is None:
            return array
        return self.dist.shard((array,), self.rank, self.size)[0]

    def bounds(self, n: int) -> tuple[int, int]:
        """This process's rows [start, stop) of ``n``."""
        return (0, n) if self.dist is None else self.dist.shard_bounds(n, self.rank, self.size)

    def allreduce_gradients(self, params: Sequence[Any], weight: float, stats: Sequence[float]) -> np.ndarray:
        """The gradients averaged over the processes, weighted by shard size; ``stats`` summed.
        KeyboardInterrupt on every process when any of them saw Ctrl-C (interruptible_steps)."""
        if self.dist is None:
            return np.asarray(stats, dtype=np.float64)
        *summed, ctrl_c = self.dist.allreduce_gradients(params, weight, [*stats, self.ctrl_c])
        self._stop_if(ctrl_c)
        return np.asarray(summed)

    def stop_if_interrupted(self) -> None:
        """KeyboardInterrupt on every process when any of them saw Ctrl-C in
        interruptible_steps: the check between steps (an evaluation, a save)."""
        if self.dist is not None:
            self._stop_if(self.sum([self.ctrl_c])[0])

    def _stop_if(self, ctrl_c_anywhere: float) -> None:
        """KeyboardInterrupt, here as on every process, when the summed flags say Ctrl-C."""
        if ctrl_c_anywhere:
            self.ctrl_c = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible_steps(self) -> Iterator[None]:
        """Inside the block, with several processes, Ctrl-C is noted and acted on after the
        step that all processes are in (see the module's docstring); one process: as usual."""
        if self.dist is None or threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum: int, frame: Any) -> None:
            self.ctrl_c = True

        before = signal.signal(signal.SIGINT, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, before)

    def sum(self, values: Sequence[float]) -> np.ndarray:
        """``values`` summed over the processes (float64)."""
        return np.asarray(values, np.float64) if self.dist is None else self.dist.allreduce_sum(values)

    def share_model(self, model: Any) -> None:
        """The root's weights on every process."""
        if self.dist is not None:
            self.dist.broadcast_parameters(model)

    def end_interrupted(self) -> None:
        """After a Ctrl-C outside the steps with several processes, end them all now (exit
        status 130); with one, return. No collective call may follow such a Ctrl-C."""
        if self.dist is None:
            return
        if not self.root:
            time.sleep(ROOT_GRACE_SECONDS)
        sys.stdout.flush()
        sys.stderr.flush()
        # MPI_Abort is how this job ends on purpose; MPICH's "application called MPI_Abort"
        # line would only repeat, as if an error, what has been said
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            self.dist.abort(EXIT_INTERRUPTED)

    def check_synchronized(self, model: Any) -> None:
        """A RuntimeError on every process unless all hold the same weights."""
        if self.dist is not None:
            self.dist.check_synchronized(model, "the weights")


def workers() -> Workers:
    """The processes of this run: several under ``mpiexec -n N`` (N > 1), else one."""
    if launched_size() <= 1:
        return Workers()
    import compgraph.distributed as distributed  # needs mpi4py: the ImportError names the extra

    return Workers(distributed)
