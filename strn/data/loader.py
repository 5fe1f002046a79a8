"""The host side of the training data: sequences stacked into micro-batches, in this process
or in DataLoader worker processes that live for the whole training (issue 16, item 4).

`EpochLoader` is the training loader: one DataLoader per training, whose workers persist
across epochs. Each epoch's batch list (the engine's plan for that epoch) is handed to the
same DataLoader through `_EpochBatches`, a batch sampler whose list is replaced before each
epoch. A DataLoader made per epoch would fork its workers again at every epoch start, and
the first batch of every epoch would wait for them (``benchmarks/bench_loader.py``).

Exact resume does not depend on the workers: an item is a pure function of its index (the
frames of a cached video), the crops are drawn in the main process (`strn.train.engine`), and the
workers' own random state is seeded from a private generator, not from torch's global one
(which a checkpoint saves). So 0 or N workers, persistent or not, give the same batches.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

# Batches in flight per worker (DataLoader's default). 4 measured no faster on a loaded machine
# (results/bench/loader.json, raw_cache_prefetch4) and holds twice the shared memory: 8 workers
# x 4 batches of 64 sequences at 256 px would be 800 MB of /dev/shm.
PREFETCH = 2


def stack_items(items: Sequence[tuple]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items (frames (T, C, H, W), label, video) -> frames (B, T, C, H, W) uint8, labels (B,),
    videos (B,), in this process."""
    labels, videos = _labels_videos(items)
    return stack_frames([torch.as_tensor(it[0]) for it in items], shared=False), torch.from_numpy(labels), \
        torch.from_numpy(videos)


def _labels_videos(items: Sequence[tuple]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([int(it[1]) for it in items]), np.array([int(it[2]) for it in items])


def _stack_to_send(items: Sequence[tuple]) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """A worker's collation: frames straight into shared memory; labels and videos as arrays,
    pickled with the batch. A tensor, however small, travels as a shared-memory descriptor that
    the main process fetches from the worker (a round trip to a process that may be waiting for
    a core): one per batch, not three. `_received` makes them tensors again."""
    return (stack_frames([torch.as_tensor(it[0]) for it in items], shared=True), *_labels_videos(items))


def _received(batch: tuple, pin: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    frames, labels, videos = batch
    return frames, *_pinned((torch.from_numpy(labels), torch.from_numpy(videos)), pin)


def stack_frames(frames: Sequence[torch.Tensor], *, shared: bool) -> torch.Tensor:
    """Stack frames (T, C, H, W) into (B, T, C, H, W).

    ``shared`` (in a worker, whose batch travels to the main process): written straight into
    shared memory, in the order their memory is laid out (a `SequenceDataset` item is a
    (T, C, H, W) view of (T, H, W, C) frames): one plain copy, where ``torch.stack`` to
    (B, T, C, H, W) memory and then the move to shared memory that sending it takes are a
    transposing copy and a second full copy (timed alone, 22 ms against 8 + 17 ms for 64
    sequences at 256 px, ``benchmarks/bench_loader.py``: most of it is the first touch of the
    fresh shared pages, which both pay). The result is the same (B, T, C, H, W) tensor, as a
    permuted view; `strn.data.transforms.normalize` makes it contiguous on the device.
    Otherwise ``torch.stack`` (in the training process the transpose is cheapest on uint8)."""
    if not shared:
        return torch.stack(list(frames))
    first = frames[0]
    order = sorted(range(first.dim()), key=lambda d: -first.stride(d))  # dims as laid out in memory
    storage = torch.UntypedStorage._new_shared(first.element_size() * len(frames) * first.numel())
    out = torch.empty(0, dtype=first.dtype).set_(storage, 0, (len(frames), *(first.shape[d] for d in order)))
    view = out.permute(0, *(1 + order.index(d) for d in range(first.dim())))  # (B, T, C, H, W)
    for k, f in enumerate(frames):
        view[k].copy_(f)  # same layout on both sides: a contiguous copy
    return view


def _pinned(batch: tuple[torch.Tensor, ...], pin: bool) -> tuple[torch.Tensor, ...]:
    return tuple(t.pin_memory() for t in batch) if pin else batch


def _in_process(dataset, batches: Iterable[Sequence[int]], pin: bool) -> Iterator[tuple[torch.Tensor, ...]]:
    return (_pinned(stack_items([dataset[i] for i in b]), pin) for b in batches)


def load_batches(dataset, batches: list[list[int]], num_workers: int, pin: bool = False):
    """The batches of these index lists, in this order, once (evaluation): in this process, or
    in ``num_workers`` processes started for this pass and shut down when it ends. ``pin``:
    page-locked batches (for a GPU), so that the copy to it runs asynchronously."""
    if num_workers <= 0:
        return _in_process(dataset, batches, pin)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=num_workers,
                                         collate_fn=_stack_to_send, pin_memory=pin,
                                         generator=torch.Generator().manual_seed(0))
    return (_received(b, pin) for b in loader)


class _EpochBatches:
    """A batch sampler whose list is replaced before each epoch (read when an epoch starts)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class EpochLoader:
    """Training batches of ``dataset``, one epoch per call, from workers that live until `close`.

    ``loader(batches)`` returns the iterator of that epoch's batches (index lists, in order).
    With ``num_workers`` > 0 the first call starts the workers and later calls reuse them;
    starting a new epoch drops what an unfinished one had in flight (a run interrupted by an
    error, or resumed mid-epoch). Without workers the batches are made in this process.
    `close` (or leaving a ``with`` block) shuts the workers down; the training engine calls it
    when training ends, also on errors and preemption. One epoch at a time: an epoch's
    iterator must not be read after the next call."""

    def __init__(self, dataset, num_workers: int = 0, *, pin: bool = False, prefetch: int = PREFETCH) -> None:
        self.dataset, self.num_workers, self.pin, self.prefetch = dataset, num_workers, pin, prefetch
        self._plan = _EpochBatches()
        self._loader: torch.utils.data.DataLoader | None = None
        self._epoch = 0  # calls so far: an older epoch's iterator refuses to go on

    def __call__(self, batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, ...]]:
        self._epoch += 1
        if self.num_workers <= 0:
            return _in_process(self.dataset, batches, self.pin)
        self._plan.batches = [list(b) for b in batches]
        if self._loader is None:
            # The workers' random state comes from this generator: creating the loader does not
            # draw from torch's global generator, whose state a checkpoint saves and restores.
            self._loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self._plan, num_workers=self.num_workers, collate_fn=_stack_to_send,
                pin_memory=self.pin, persistent_workers=True, prefetch_factor=self.prefetch,
                generator=torch.Generator().manual_seed(0))
        return self._guarded(iter(self._loader), self._epoch, len(self._plan.batches))

    def _guarded(self, it: Iterator, epoch: int, n: int) -> Iterator[tuple[torch.Tensor, ...]]:
        for _ in range(n):
            if epoch != self._epoch:
                raise RuntimeError("an EpochLoader epoch was read after the next epoch started (one epoch at a time)")
            yield _received(next(it), self.pin)

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (empty before the first epoch and after `close`)."""
        it = None if self._loader is None else self._loader._iterator
        return [] if it is None or it._shutdown else [w.pid for w in it._workers]

    def close(self) -> None:
        """Shut the workers down and wait for them (idempotent); a later call starts new ones."""
        loader, self._loader = self._loader, None
        if loader is not None and loader._iterator is not None:
            loader._iterator._shutdown_workers()
            loader._iterator = None

    def __enter__(self) -> "EpochLoader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
