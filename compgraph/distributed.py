"""Data-parallel training over MPI (mpi4py): every process holds the whole model, takes its
shard of every batch, and the gradients are averaged before each optimizer step.

Launch with ``mpiexec -n 2 python train.py`` (``pip install 'compgraph[mpi]'`` brings mpi4py
and the mpich wheel, whose ``mpiexec`` needs no system MPI). Under a plain ``python`` the
world is one process and every function here is a no-op. MPI starts on first use, not at
import (mpi4py's ``MPI`` module initialises MPI when it is imported).

- ``rank()``, ``size()``, ``is_distributed()`` (size > 1).
- ``broadcast_parameters(model)``: rank 0's weights to every process (call once, at start).
- ``shard(arrays, rank, size)``: this process's contiguous slice of each array of a batch.
- ``allreduce_gradients(params, weight)``: every ``.grad`` replaced by the weighted mean over
  the processes, in a few large Allreduce calls (the gradients flattened into buckets of at
  most ``BUCKET_BYTES`` per dtype); weighting by the shard sizes makes the result the gradient
  of the mean loss over the whole batch, as one process would compute it.
- ``DataParallel``: the three around a training step.
- ``check_synchronized(params)``, ``abort(code)``, ``abort_on_error()``: keeping the processes
  in step, and ending them all when one fails (an MPI job with one process gone hangs).

>>> import numpy as np
>>> x, t = shard((np.arange(10), np.arange(10)), rank=2, size=3)
>>> x.tolist()
[7, 8, 9]
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from compgraph.core import Variable

try:
    import mpi4py  # noqa: F401  (the package only: its MPI module starts MPI, which waits for first use)
except ImportError as exc:
    raise ImportError(
        "compgraph.distributed needs mpi4py and an MPI library: pip install 'compgraph[mpi]'"
    ) from exc

__all__ = [
    "BUCKET_BYTES",
    "DataParallel",
    "abort",
    "abort_on_error",
    "allreduce_gradients",
    "allreduce_sum",
    "broadcast_parameters",
    "check_synchronized",
    "gradient_buckets",
    "is_distributed",
    "rank",
    "shard",
    "shard_bounds",
    "size",
]

#: The most bytes of gradients one Allreduce carries (Horovod's and PyTorch DDP's default order).
BUCKET_BYTES = 25 * 2**20


def _world() -> Any:
    """MPI.COMM_WORLD, starting MPI on the first call."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as exc:  # mpi4py without an MPI library to load
        raise ImportError(
            f"compgraph.distributed: mpi4py cannot load an MPI library ({exc}): pip install 'compgraph[mpi]'"
        ) from exc
    return MPI.COMM_WORLD


def rank() -> int:
    """This process's number, 0 to size() - 1; 0 without mpiexec."""
    return int(_world().Get_rank())


def size() -> int:
    """How many processes train together; 1 without mpiexec."""
    return int(_world().Get_size())


def is_distributed() -> bool:
    """Whether this process is one of several (launched by ``mpiexec -n N`` with N > 1)."""
    return size() > 1


def _params_of(model_or_params: Any) -> list[Variable]:
    params = model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Variable):
            raise TypeError(f"distributed: parameter {i} is a {type(p).__name__}, expected a Parameter")
    return params


def broadcast_parameters(model_or_params: Any, root: int = 0) -> None:
    """Overwrite every parameter's data with ``root``'s (a Module or a list of Parameters).

    Every process must pass parameters of the same shapes and dtypes in the same order
    (``Module.parameters()`` is in attribute order, the same in every process).
    """
    params = _params_of(model_or_params)
    comm = _world()
    if comm.Get_size() == 1:
        return
    _check_layout(comm, params, "broadcast_parameters")
    for p in params:
        data = np.ascontiguousarray(p.data)
        if not data.flags.writeable:
            data = data.copy()
        comm.Bcast(data, root=root)
        p.data = data


def _check_layout(comm: Any, params: Sequence[Variable], caller: str) -> None:
    """A ValueError on every process unless all hold parameters of the same shapes and dtypes."""
    layout = [(tuple(p.shape), str(p.dtype)) for p in params]
    layouts = comm.allgather(layout)
    for r, other in enumerate(layouts):
        if other != layouts[0]:
            raise ValueError(
                f"distributed.{caller}: process {r} has {len(other)} parameters {other[:3]}..., process 0 "
                f"has {len(layouts[0])} {layouts[0][:3]}...; every process must build the same model"
            )


_rank, _size = rank, size  # for the functions whose arguments take these names


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [start, stop) of ``n`` that process ``rank`` of ``size`` takes: contiguous, the
    first ``n % size`` processes one row more (``np.array_split``'s rule); some may get none.

    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    if not 0 <= rank < size:
        raise ValueError(f"shard: rank must be in [0, {size}) for size {size}, got {rank}")
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def shard(batch_arrays: Sequence[np.ndarray], rank: int | None = None, size: int | None = None) -> tuple:
    """Process ``rank``'s contiguous slice (views) of every array of one global batch, cut
    along the first axis (see ``shard_bounds``); rank and size default to this process's.

    The arrays must have the same first axis. Shards are in rank order, so concatenating
    them gives the batch back.
    """
    arrays = tuple(batch_arrays)
    if not arrays:
        raise ValueError("shard: got no arrays; pass the batch's arrays, e.g. shard((x, t))")
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise ValueError(f"shard: the arrays of a batch must have the same first axis, got {shapes}")
    if rank is None or size is None:
        rank, size = _rank(), _size()
    start, stop = shard_bounds(lengths.pop(), rank, size)
    return tuple(a[start:stop] for a in arrays)


def gradient_buckets(params: Sequence[Variable], bucket_bytes: int = BUCKET_BYTES) -> list[list[int]]:
    """The parameters' indices cut into buckets of one dtype and at most ``bucket_bytes``
    each, in parameter order within a dtype (a larger parameter is a bucket by itself).

    >>> import numpy as np
    >>> ps = [Variable(np.zeros(n, np.float32)) for n in (3, 3, 3)] + [Variable(np.zeros(2))]
    >>> gradient_buckets(ps, bucket_bytes=24)
    [[0, 1], [2], [3]]
    """
    by_dtype: dict[np.dtype, list[int]] = {}
    for i, p in enumerate(params):
        by_dtype.setdefault(p.data.dtype, []).append(i)
    buckets: list[list[int]] = []
    for dtype, indices in by_dtype.items():
        current: list[int] = []
        filled = 0
        for i in indices:
            nbytes = params[i].data.size * dtype.itemsize
            if current and filled + nbytes > bucket_bytes:
                buckets.append(current)
                current, filled = [], 0
            current.append(i)
            filled += nbytes
        buckets.append(current)
    return buckets


def allreduce_gradients(
    params: Sequence[Variable],
    weight: float = 1.0,
    stats: Sequence[float] = (),
    *,
    bucket_bytes: int = BUCKET_BYTES,
) -> np.ndarray:
    """Replace every ``.grad`` with Σ weight_r·grad_r / Σ weight_r over the processes r.

    With ``weight`` the size of this process's shard and each gradient that of its shard's
    mean loss, the result is the gradient of the mean loss over the whole batch (uneven or
    empty shards included). A parameter without a gradient counts as zeros; one without a
    gradient in every process keeps none. ``stats`` (loss sums, counts) are summed over the
    processes in the same calls and returned (float64; summed in the gradients' dtype: exact
    for counts below 2**24 in float32). One Allreduce per bucket (``gradient_buckets``).
    """
    params = list(params)
    comm = _world()
    extras = np.array([weight, *(p.grad is not None for p in params), *stats], dtype=np.float64)
    if comm.Get_size() == 1:
        return extras[1 + len(params) :].copy()
    from mpi4py import MPI

    buckets = gradient_buckets(params, bucket_bytes) or [[]]
    weight = float(weight)
    reduced: list[tuple[list[int], np.ndarray]] = []
    for k, bucket in enumerate(buckets):
        dtype = params[bucket[0]].data.dtype if bucket else np.dtype(np.float64)
        tail = extras if k == len(buckets) - 1 else extras[:0]  # the extras ride in the last call
        buffer = np.empty(sum(params[i].data.size for i in bucket) + len(tail), dtype)
        offset = 0
        for i in bucket:
            p = params[i]
            part = buffer[offset : offset + p.data.size]
            if p.grad is None:
                part.fill(0)
            else:
                np.multiply(p.grad.data.reshape(-1), weight, out=part, casting="unsafe")
            offset += p.data.size
        buffer[offset:] = tail
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        reduced.append((bucket, buffer))
    summed = reduced[-1][1][-len(extras) :].astype(np.float64)
    total, has_grad = summed[0], summed[1 : 1 + len(params)]
    for bucket, buffer in reduced:
        _unflatten(params, bucket, buffer, total, has_grad)
    return summed[1 + len(params) :]


def _unflatten(
    params: Sequence[Variable], bucket: list[int], buffer: np.ndarray, total: float, has_grad: np.ndarray
) -> None:
    """Each parameter's summed gradient, divided by the summed weight, from its bucket."""
    if not bucket:
        return
    if total <= 0:
        raise ValueError(
            f"distributed.allreduce_gradients: the weights sum to {total} over the processes; give each "
            "process the size of its shard (at least one must be positive)"
        )
    offset = 0
    for i in bucket:
        p = params[i]
        part = buffer[offset : offset + p.data.size]
        offset += p.data.size
        if has_grad[i] == 0:
            p.grad = None
            continue
        part /= buffer.dtype.type(total)
        p.grad = Variable(part.reshape(p.shape), requires_grad=False)


def allreduce_sum(values: Sequence[float]) -> np.ndarray:
    """``values`` summed over the processes, as float64 (one Allreduce)."""
    array = np.array(values, dtype=np.float64)
    comm = _world()
    if comm.Get_size() > 1:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
    return array


def check_synchronized(model_or_params: Any, what: str = "the parameters") -> None:
    """A RuntimeError on every process unless all hold bit-identical parameters."""
    comm = _world()
    if comm.Get_size() == 1:
        return
    digest = hashlib.sha256()
    for p in _params_of(model_or_params):
        digest.update(np.ascontiguousarray(p.data).tobytes())
    digests = comm.allgather(digest.hexdigest())
    differ = [r for r, d in enumerate(digests) if d != digests[0]]
    if differ:
        raise RuntimeError(
            f"distributed: {what} of process(es) {differ} differ from process 0's; every process must "
            "start from broadcast_parameters and apply the same allreduced gradients"
        )


class DataParallel:
    """Data parallelism around a training step: the model's weights from rank 0 at the start,
    this process's shard of each batch, the gradients averaged before the optimizer step.

    >>> dp = DataParallel(model)                        # doctest: +SKIP
    >>> for x, t in loader:                             # doctest: +SKIP
    ...     x, t = dp.shard(x, t)                       # this process's rows
    ...     optimizer.zero_grad()
    ...     F.softmax_cross_entropy(model(x), t).backward()
    ...     dp.allreduce_gradients()                    # the whole batch's mean-loss gradient
    ...     optimizer.step()

    A process whose shard is empty (a batch smaller than the number of processes) skips its
    forward and backward but still calls ``allreduce_gradients``.
    """

    def __init__(self, model_or_params: Any, bucket_bytes: int = BUCKET_BYTES):
        self.params = _params_of(model_or_params)
        self.rank, self.size = rank(), size()
        self.bucket_bytes = bucket_bytes
        self.weight = 0
        broadcast_parameters(self.params)

    def shard(self, *arrays: np.ndarray) -> tuple:
        """This process's rows of one batch; remembers their count as its weight."""
        local = shard(arrays, self.rank, self.size)
        self.weight = len(local[0])
        return local

    def allreduce_gradients(self, stats: Sequence[float] = ()) -> np.ndarray:
        """Average the gradients over the processes, weighted by the last shard's size; the
        ``stats`` summed over the processes are returned."""
        return allreduce_gradients(self.params, self.weight, stats, bucket_bytes=self.bucket_bytes)


def abort(code: int = 1) -> None:
    """End every process of the job with exit status ``code`` (MPI_Abort); output is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _world().Abort(code)


@contextlib.contextmanager
def abort_on_error(code: int = 1) -> Iterator[None]:
    """Inside the block, an exception on any one process prints its traceback (marked with the
    process's rank) and ends the whole job, instead of leaving the others waiting forever in
    their next collective call. KeyboardInterrupt and SystemExit pass through."""
    try:
        yield
    except Exception:
        if size() == 1:
            raise
        print(f"[process {rank()} of {size()}] " + traceback.format_exc(), end="", file=sys.stderr)
        abort(code)

