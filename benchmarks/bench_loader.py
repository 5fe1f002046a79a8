"""The training loader against the in-memory ceiling, on the ``ucf-shaped`` set (issue 16, item 4).

A run is ``--epochs`` epochs of ``--batches`` micro-batches each (``--batch-size`` sequences, T = 2,
every 10th frame at 256 px: the ``full`` profile's data setting), each epoch its own shuffle, fed
to a stand-in training step of known cost. The step sleeps: it stands for a GPU step, which
leaves the host's cores to the loader. Its cost is the full profile's per-worker budget: on the
GPU, 8 workers fed 3,570 frames/s in-process (``results/bench/gpu_engine.json``), i.e. each worker
has 8 / 3,570 s = 2.24 ms per frame; with ``--workers`` W here the step consumes W x 446 frames/s.

Peers, each over the same epochs, interleaved per round (``--repeat`` rounds, median per peer; the
order rotates from round to round, so that no peer always runs first):

  in_memory      the batches already stacked in memory: only the step runs (the ceiling).
  raw_cache      the real loader, ``strn.data.loader.EpochLoader`` (one DataLoader for the run,
                 workers kept across epochs, 2 batches in flight per worker, batches stacked
                 straight into shared memory) over ``SequenceDataset`` on a warm raw ``FrameCache``.
  jpeg_cache     the same over a warm JPEG q90 cache (``codec="jpeg90"``).
  raw_cache_prefetch4  the real loader with 4 batches in flight per worker instead of
                 ``strn.data.loader.PREFETCH`` (2): the measurement behind that choice.
  raw_cache_before  the loader this replaced, on the raw cache: a DataLoader made per epoch
                 (workers started at every epoch), 2 batches in flight, ``torch.stack`` collation
                 (sent to the main process by a second copy into shared memory).
  pyav_nocache   one epoch of ``--few`` batches over ``FrameCache(None)``: each item decodes its
                 video with PyAV (``decode_sampled``); far slower.
  torchcodec     one epoch of ``--few`` batches from a dataset that decodes each item's frames
                 with TorchCodec (``get_frames_at``, then resize), where TorchCodec loads.

Printed and stored: frames/s over the run and per epoch, each with its ratio to in_memory in the
same round, the time the step loop waited for batches and the first batch's latency per epoch
(worker start-up in the first), the workers' and the main process's CPU seconds, and what one
batch costs a worker when timed alone in this process (the items; then the old collation and
its copy into shared memory, against ``stack_frames(shared=True)``), which explains the waits.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_loader.py [--out results/bench/loader.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FULL_WORKERS, FULL_GPU_FRAMES_PER_S = 8, 3570  # results/bench/gpu_engine.json, H200, 8 workers fed in-process rate
TARGET = 0.95  # issue 16 item 4: loader >= 0.95 of in-memory with a warm cache
FULL_EPOCH_FRAMES = 179_000  # UCF-101 split-1 training frames at r = 10 (strn/study/cost.py's TRAIN_FRAMES_R10)


def ucf_layout(root: Path, clips: list[Path], n_classes: int = 5, test_every: int = 0) -> Path:
    """A UCF-101 layout of symlinks to ``clips`` (classes C0.., groups of one clip): all in split
    1's train list, or every ``test_every``-th group in its test list."""
    videos, lists = root / "UCF-101", root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    classes = [f"C{k}" for k in range(n_classes)]
    train, test = [], []
    for i, clip in enumerate(clips):
        cls, g = classes[i % n_classes], i // n_classes + 1
        rel = f"{cls}/v_{cls}_g{g:02d}_c01.avi"
        (videos / cls).mkdir(parents=True, exist_ok=True)
        link = videos / rel
        if not link.exists():
            link.symlink_to(Path(clip).resolve())
        if test_every and g % test_every == 0:
            test.append(rel)
        else:
            train.append(f"{rel} {classes.index(cls) + 1}")
    (lists / "classInd.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(classes)))
    for s in (1, 2, 3):
        (lists / f"trainlist0{s}.txt").write_text("\n".join(train) + "\n")
        (lists / f"testlist0{s}.txt").write_text("".join(f"{t}\n" for t in test))
    return root


class TorchCodecItems(torch.utils.data.Dataset):
    """The sequences of ``ds`` decoded per item with TorchCodec (every rate-th frame), resized and
    centre-cropped like ``decode_sampled``: a peer that reads videos, not a cache."""

    def __init__(self, ds, rate: int, size: int) -> None:
        self.paths, self.sequences, self.labels = ds._paths, ds.sequences, ds.labels
        self.rate, self.size = rate, size

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int):
        from torchcodec.decoders import VideoDecoder
        from torchvision.transforms.v2 import functional as F

        v, window = self.sequences[i]
        frames = VideoDecoder(self.paths[v], seek_mode="approximate").get_frames_at(
            [self.rate * w for w in window]).data  # (T, C, H, W) uint8
        frames = F.center_crop(F.resize(frames, [self.size], antialias=True), [self.size, self.size])
        return frames, self.labels[v], v


def old_stack(items):
    """The collation this loader replaced (``strn.train.fit._stack`` before issue 16 item 4): a
    transposing ``torch.stack``, which the worker then copies again into shared memory to send."""
    return (torch.stack([torch.as_tensor(it[0]) for it in items]), torch.tensor([int(it[1]) for it in items]),
            torch.tensor([int(it[2]) for it in items]))


class PerEpochLoader:
    """The loader this replaced: a DataLoader made per epoch over its batch list (``close``: nothing)."""

    def __init__(self, ds, workers: int) -> None:
        self.ds, self.workers = ds, workers

    def __call__(self, batches):
        return iter(torch.utils.data.DataLoader(self.ds, batch_sampler=batches, num_workers=self.workers,
                                                collate_fn=old_stack))

    def close(self) -> None:
        pass


class InMemory:
    """The ceiling: batches already stacked; an epoch of n batches yields the first n (the step
    only reads their shape, so the same batches stand for every epoch)."""

    def __init__(self, memory) -> None:
        self.memory = memory

    def __call__(self, batches):
        return iter(self.memory[:len(batches)])

    def close(self) -> None:
        pass


def run_epochs(loader, plans: list[list[list[int]]], step_s_per_frame: float) -> dict:
    """Feed the epochs of ``plans`` from ``loader`` (batches -> iterator; ``close()``) to the
    sleeping stand-in step: frames/s over the run and per epoch, waits, first-batch latencies, and
    the CPU seconds of the loader's workers (children, reaped at ``close``) and of this process:
    a worker that waits for a core shows more wall waiting than CPU work."""
    ru0 = [resource.getrusage(w) for w in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
    epochs = []
    t_run = time.perf_counter()
    for batches in plans:
        t0 = time.perf_counter()
        it = loader(batches)
        frames = wait = first = frames_first = 0.0
        t_first = t0
        for b in range(len(batches)):
            t = t0 if b == 0 else time.perf_counter()  # the first wait includes making the iterator (start-up)
            x = next(it)[0]
            dt = time.perf_counter() - t
            first = dt if b == 0 else first
            wait += dt
            n = x.shape[0] * x.shape[1]
            frames += n
            time.sleep(n * step_s_per_frame)  # the GPU step: the host is idle meanwhile
            if b == 0:
                t_first, frames_first = time.perf_counter(), frames
        t_end = time.perf_counter()
        del it, x  # the per-epoch loader's workers are shut down (and reaped) here
        seconds = t_end - t0
        # steady: after the epoch's first batch (worker start-up, the first batch's making excluded)
        steady = (frames - frames_first) / (t_end - t_first) if len(batches) > 1 else float("nan")
        epochs.append({"batches": len(batches), "frames": int(frames), "seconds": seconds, "frames_per_s": frames / seconds, "wait_s": wait,
                       "first_batch_s": first, "steady_frames_per_s": steady})
    seconds = time.perf_counter() - t_run
    loader.close()  # persistent workers: shut down and reaped, so that their CPU reaches RUSAGE_CHILDREN
    ru1 = [resource.getrusage(w) for w in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
    cpu = [(b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime) for a, b in zip(ru0, ru1)]
    frames = sum(e["frames"] for e in epochs)
    return {"frames": frames, "seconds": seconds, "frames_per_s": frames / seconds,
            "wait_s": sum(e["wait_s"] for e in epochs), "worker_cpu_s": cpu[0], "main_cpu_s": cpu[1],
            "loadavg_1min": os.getloadavg()[0], "epochs": epochs}


def batch_cost(ds, indices: list[int]) -> dict:
    """What one worker spends on a batch, in this process, median of 3 (ms): the items
    (``ds[i]``); the old collation (a transposing ``torch.stack``) and the copy into shared memory
    that sending its result from a worker costs; against ``stack_frames(shared=True)``, the
    loader's worker collation (straight into shared memory); plus the items' cost per frame."""
    from strn.data.loader import stack_frames

    runs = {"items_ms": [], "old_stack_ms": [], "old_to_shared_memory_ms": [], "stack_shared_ms": []}
    for _ in range(3):
        t0 = time.perf_counter()
        items = [ds[i] for i in indices]
        t1 = time.perf_counter()
        frames = old_stack(items)[0]
        t2 = time.perf_counter()
        frames.share_memory_()
        t3 = time.perf_counter()
        stack_frames([it[0] for it in items], shared=True)
        t4 = time.perf_counter()
        for k, dt in zip(runs, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            runs[k].append(1000 * dt)
    out = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    out["items_ms_per_frame"] = round(out["items_ms"] / (len(indices) * len(items[0][0])), 4)
    out["batch_sequences"] = len(indices)
    return out


def _plans(n_sequences: int, batch_size: int, n_batches: int, epochs: int) -> list[list[list[int]]]:
    """``epochs`` lists of ``n_batches`` batches, each epoch its own shuffle (as in training)."""
    rng = np.random.default_rng(0)
    plans = []
    for _ in range(epochs):
        order = np.concatenate([rng.permutation(n_sequences) for _ in range(1 + n_batches * batch_size // n_sequences)])
        plans.append([order[b * batch_size:(b + 1) * batch_size].tolist() for b in range(n_batches)])
    return plans


def _summary(rs: list[dict], mem: list[dict]) -> dict:
    """Medians over rounds of one peer's runs; ratios to in_memory taken within each round."""
    med = statistics.median
    n_epochs = len(rs[0]["epochs"])
    out = {f: round(med(r[f] for r in rs), 4) for f in ("frames_per_s", "seconds", "wait_s", "worker_cpu_s", "main_cpu_s")}
    out["ratio_to_in_memory"] = round(med(r["frames_per_s"] / m["frames_per_s"] for r, m in zip(rs, mem)), 4)
    out["epochs"] = [{
        "frames_per_s": round(med(r["epochs"][e]["frames_per_s"] for r in rs), 2),
        "ratio_to_in_memory": round(med(r["epochs"][e]["frames_per_s"] / m["epochs"][e]["frames_per_s"]
                                        for r, m in zip(rs, mem)), 4),
        "steady_ratio": round(med(r["epochs"][e]["steady_frames_per_s"] / m["epochs"][e]["steady_frames_per_s"]
                                  for r, m in zip(rs, mem)), 4),
        "first_batch_s": round(med(r["epochs"][e]["first_batch_s"] for r in rs), 4),
        "wait_s": round(med(r["epochs"][e]["wait_s"] for r in rs), 4),
        "steady_wait_s": round(med(r["epochs"][e]["wait_s"] - r["epochs"][e]["first_batch_s"] for r in rs), 4),
    } for e in range(n_epochs)]
    # "Later" epochs: what every epoch of a long run but its first looks like (one start-up per run
    # for the real loader, one per epoch for the old one).
    n_batches = sum(e["batches"] for e in rs[0]["epochs"])
    # what each batch costs the main process (receiving it) and the workers (making it), CPU ms
    out["main_cpu_ms_per_batch"] = round(1000 * out["main_cpu_s"] / n_batches, 2)
    out["worker_cpu_ms_per_batch"] = round(1000 * out["worker_cpu_s"] / n_batches, 2)
    later = out["epochs"][1:] or out["epochs"]
    out["later_epochs_ratio"] = round(med(e["ratio_to_in_memory"] for e in later), 4)
    out["first_epoch_ratio"] = out["epochs"][0]["ratio_to_in_memory"]
    return out


def main(argv: list[str] | None = None) -> dict:
    from strn.data.cache import FrameCache
    from strn.data.datasets import SequenceDataset
    from strn.data.loader import EpochLoader, load_batches, stack_items
    from strn.data.ucf101 import read_split
    from strn.results import atomic_write_text, environment
    from strn.data.synth_ucf import UcfShapedSpec, write_ucf_shaped

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("STRN_DATA_DIR", "/tmp")) / "bench-loader")
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--rate", type=int, default=10)
    ap.add_argument("--seq-len", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batches", type=int, default=20, help="batches per epoch")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--few", type=int, default=2, help="batches for the peers that decode videos per item")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "loader.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    clips = write_ucf_shaped(a.work / "clips", UcfShapedSpec(n_clips=a.clips))
    index = read_split(ucf_layout(a.work / "ucf", clips), 1)
    kw = dict(rate=a.rate, seq_len=a.seq_len, size=a.size, progress=False)
    ds_raw = SequenceDataset(index, "train", cache=FrameCache(a.work / "cache-raw"), **kw)
    ds_jpeg = SequenceDataset(index, "train", cache=FrameCache(a.work / "cache-jpeg", codec="jpeg90"), **kw)
    decoders = {"pyav_nocache": _nocache_like(ds_raw)}  # from the raw set's sequences (indexing decodes every video)
    try:
        from tests._peer import probe

        reason = probe()
    except Exception as exc:  # noqa: BLE001 - any failure to load is the reason reported
        reason = f"{type(exc).__name__}: {exc}"
    if reason is None:
        decoders["torchcodec"] = TorchCodecItems(ds_raw, a.rate, a.size)
    plans = _plans(len(ds_raw), a.batch_size, a.batches, a.epochs)
    step_s = 1.0 / (a.workers * FULL_GPU_FRAMES_PER_S / FULL_WORKERS)
    memory = [stack_items([ds_raw[i] for i in b]) for b in plans[0]]
    for b in (b for plan in plans for b in plan):  # warm caches: every entry's pages read once
        stack_items([ds_raw[i] for i in b]), stack_items([ds_jpeg[i] for i in b])
    costs = {"raw_cache": batch_cost(ds_raw, plans[0][0]), "jpeg_cache": batch_cost(ds_jpeg, plans[0][0])}
    costs.update({k: batch_cost(ds, plans[0][0][:4]) for k, ds in decoders.items()})
    peers = {"in_memory": lambda: InMemory(memory),
             "raw_cache": lambda: EpochLoader(ds_raw, a.workers),
             "jpeg_cache": lambda: EpochLoader(ds_jpeg, a.workers),
             "raw_cache_before": lambda: PerEpochLoader(ds_raw, a.workers),
             "raw_cache_prefetch4": lambda: EpochLoader(ds_raw, a.workers, prefetch=4)}

    class OnePass:  # the decoding peers: one short epoch through the loader's one-off path
        def __init__(self, ds):
            self.ds = ds

        def __call__(self, batches):
            return load_batches(self.ds, batches, a.workers)

        def close(self):
            pass

    few = plans[0][:a.few]
    runs: dict[str, list[dict]] = {k: [] for k in (*peers, *decoders, "in_memory_few")}
    for r in range(a.repeat):
        order = list(peers)[r % len(peers):] + list(peers)[:r % len(peers)]
        for k in order:
            runs[k].append(run_epochs(peers[k](), plans, step_s))
        runs["in_memory_few"].append(run_epochs(InMemory(memory), [few], step_s))
        for k, ds in decoders.items():
            runs[k].append(run_epochs(OnePass(ds), [few], step_s))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['frames_per_s']:.0f}" for k, v in runs.items()), flush=True)
    out_peers = {"in_memory": _summary(runs["in_memory"], runs["in_memory"])}
    for k in (*peers, *decoders):
        if k == "in_memory":
            continue
        mem = runs["in_memory_few" if k in decoders else "in_memory"]
        out_peers[k] = {**_summary(runs[k], mem), "batches_per_epoch": a.few if k in decoders else a.batches,
                        "runs": runs[k]}
        if k in costs:
            out_peers[k]["worker_cost_one_batch"] = costs[k]
    out_peers["in_memory"]["runs"] = runs["in_memory"]
    epoch_batches = FULL_EPOCH_FRAMES / (a.batch_size * a.seq_len)
    mem_fps = statistics.median(e["steady_frames_per_s"] for r in runs["in_memory"] for e in r["epochs"])
    for k in ("raw_cache", "jpeg_cache", "raw_cache_prefetch4", "raw_cache_before"):
        p = out_peers[k]
        # A UCF-101 split-1 epoch has ~epoch_batches batches: the later epochs' first-batch wait once,
        # their steady rate for the rest. Projected: frames / (first batch + rest at the steady rate).
        later = runs[k]
        first = statistics.median(e["first_batch_s"] for r in later for e in (r["epochs"][1:] or r["epochs"]))
        steady = statistics.median(e["steady_frames_per_s"] for r in later for e in (r["epochs"][1:] or r["epochs"]))
        t_full = first + (epoch_batches - 1) * a.batch_size * a.seq_len / steady
        p["projected_full_epoch_ratio"] = round((epoch_batches * a.batch_size * a.seq_len / mem_fps) / t_full, 4)
        p["target"] = TARGET
        p["met_over_run"] = p["ratio_to_in_memory"] >= TARGET
        p["met_every_epoch"] = min(e["ratio_to_in_memory"] for e in p["epochs"]) >= TARGET
    for k, p in out_peers.items():
        ep = "" if k == "in_memory" else (
            f", {p['ratio_to_in_memory']:.3f} of in-memory over the run; per epoch "
            + " / ".join(f"{e['ratio_to_in_memory']:.3f}" for e in p["epochs"])
            + " (first batch " + " / ".join(f"{e['first_batch_s']:.2f}" for e in p["epochs"]) + " s)")
        c = costs.get(k)
        item = (f"; a batch alone: items {c['items_ms']:.0f} ms, then old stack {c['old_stack_ms']:.0f} + to shm "
                f"{c['old_to_shared_memory_ms']:.0f} ms vs straight to shm {c['stack_shared_ms']:.0f} ms "
                f"({c['batch_sequences']} sequences)" if c else "")
        print(f"{k:19s} {p['frames_per_s']:7.0f} frames/s{ep}, waited {p['wait_s']:.2f} s, CPU per batch: "
              f"workers {p['worker_cpu_ms_per_batch']:.0f} ms, main {p['main_cpu_ms_per_batch']:.1f} ms, "
              f"run {p['seconds']:.1f} s{item}")
    for k in ("raw_cache", "jpeg_cache", "raw_cache_prefetch4", "raw_cache_before"):
        p = out_peers[k]
        print(f"{k}: {'met' if p['met_over_run'] else 'MISSED'} over the {a.epochs}-epoch run, "
              f"{'met' if p['met_every_epoch'] else 'MISSED'} in every epoch, projected "
              f"{p['projected_full_epoch_ratio']:.3f} over a full split-1 epoch (target >= {TARGET} of in-memory)")
    # The demo profile's setting (48 px, micro-batch 16): does JPEG cost more than raw there?
    demo_kw = dict(kw, size=48)
    demo = {}
    for codec in ("raw", "jpeg90"):
        ds = SequenceDataset(index, "train", cache=FrameCache(a.work / f"cache-demo-{codec}", codec=codec), **demo_kw)
        demo[codec] = batch_cost(ds, plans[0][0][:16])
    print(f"demo setting (48 px, 16 sequences): raw {demo['raw']['items_ms'] + demo['raw']['stack_shared_ms']:.1f} ms, "
          f"JPEG {demo['jpeg90']['items_ms'] + demo['jpeg90']['stack_shared_ms']:.1f} ms per batch")
    out = {"benchmark": "loader", "dataset": f"ucf-shaped, {a.clips} clips (strn/data/synth_ucf.py)",
           "rate": a.rate, "seq_len": a.seq_len, "size": a.size, "batch_size": a.batch_size, "batches": a.batches,
           "epochs": a.epochs, "few_batches": a.few, "workers": a.workers, "n_sequences": len(ds_raw),
           "step": {"kind": "sleep (a GPU step: host idle)", "s_per_frame": step_s,
                    "why": f"full profile's per-worker budget: {FULL_WORKERS} workers fed {FULL_GPU_FRAMES_PER_S} "
                           "frames/s (results/bench/gpu_engine.json)"},
           "peers": out_peers, "demo_setting_batch_cost_ms": demo, "torchcodec": reason or "loaded", "repeat": a.repeat,
           "timing": "peers interleaved per round; medians; ratios taken within a round",
           "machine": {"shared": "2 cores shared with other training runs: absolute rates are noisy, ratios "
                                 "are measured side by side", "cpu_count": os.cpu_count(),
                       "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                       "nice": os.nice(0), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
           "env": environment(), "wall_s": time.perf_counter() - t_start}
    atomic_write_text(a.out, json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.out} ({out['wall_s']:.0f} s)")
    return out


def _nocache_like(ds):
    """``ds`` reading through ``FrameCache(None)`` (decode per item), without indexing again."""
    import copy

    from strn.data.cache import FrameCache

    nc = copy.copy(ds)
    nc.cache = FrameCache(None)
    return nc


if __name__ == "__main__":
    main()
