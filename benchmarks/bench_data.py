"""Data-path benchmark: one epoch of sequences, four readers side by side.

On the demo synthetic set (``--preset demo``) or ``--clips`` ucf-shaped clips
(``--preset ucf-shaped``: 320x240 MPEG-4 at 25 fps, ``strn/data/synth_ucf.py``, at 256 px; every
4th group in split 1's test list) (split 1, train + test: the same videos for every reader), at
the demo setting (every ``rate``-th frame, sequences of ``seq_len``, frames ``size``):

  project_decode   the project's reader on the decode path, no cache: ``read_split``
                   (its indexing), then per video ``FrameCache(None).get`` (one PyAV
                   pass), ``sequence_windows`` and the item assembly of
                   ``SequenceDataset.__getitem__`` (window gather, CHW, eval crop).
  torchvision      ``torchvision.datasets.UCF101`` (TorchCodec backend) on the same folder,
                   the same sequences (``frame_rate = fps / rate`` so its clips are
                   ``seq_len`` consecutive sampled frames, ``step_between_clips = seq_len``
                   so they do not overlap), resized to the same ``size`` by a transform;
                   its indexing (``VideoClips`` scanning every file) included. The test
                   dataset reuses the train dataset's scan (``_precomputed_metadata``), so
                   the folder is scanned once, as for the project.
  pyav_raw         a raw PyAV pass per file: every frame decoded, every ``rate``-th kept
                   with the usual ``frame.to_ndarray(format="rgb24")`` (native size).
  project_cached   ``SequenceDataset`` over a warm ``FrameCache`` (entries on disk, OS
                   cache warm), built (its indexing) and read item by item.
  project_cached_jpeg  the same over a warm JPEG q90 cache (``codec="jpeg90"``).

and, for context (no target):

  pyav_decode_only  every frame decoded, nothing converted: the decoder's own floor.
  project_cold      ``SequenceDataset`` over an EMPTY ``FrameCache``: what a first run
                    pays (decode once, write the entries, then read them).
  project_dataset_nocache  ``SequenceDataset`` over ``FrameCache(None)``: it decodes
                    every video at indexing and again for EVERY item (1 + n_sequences
                    decodes per video), which is why the project never trains without a
                    cache root. Run once whatever ``--repeat`` says.

frames/s = frames delivered / (indexing + epoch seconds). Each reader runs in a fresh
Python process (imports excluded from timings), ``--repeat`` times; the best (minimum)
time is used for rates and ratios (on a shared machine the minimum is the least
disturbed run), all times are kept in the JSON.

Peak memory: the peak resident set of that fresh process (Linux: VmHWM, reset to the
current size by ``/proc/self/clear_refs`` after imports and set-up; elsewhere
``ru_maxrss``) minus its resident size at that point: the reader's own peak growth.
Chosen over tracemalloc because most of the memory here is allocated in C/C++ (FFmpeg
frame pools, TorchCodec and torch tensors) which tracemalloc does not see, and because
tracemalloc slows allocation-heavy Python code and would distort the timings. A
high-water mark covers the whole process, so it is only meaningful in a fresh process
per reader, which is why each runs in its own. Memory-mapped cache pages that are read
count as resident (file-backed, shared with the OS page cache, reclaimable).

Usage: python benchmarks/bench_data.py [--data-dir DIR] [--out results/bench/data.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGETS = {  # ratio name -> (numerator, denominator, minimum)
    "project_vs_torchvision": ("project_decode", "torchvision", 20.0),
    "project_vs_pyav_raw": ("project_decode", "pyav_raw", 0.8),
    "cached_vs_decode": ("project_cached", "project_decode", 10.0),
}
# (JPEG cache: reported beside the raw one, no target of its own)
CONTEXT = {  # ratio name -> (numerator, denominator): reported, no target
    "project_vs_ffmpeg_cli": ("project_decode", "ffmpeg_cli"),
    "jpeg_cached_vs_decode": ("project_cached_jpeg", "project_decode"),
    "jpeg_cached_vs_raw_cached": ("project_cached_jpeg", "project_cached"),
}
PHASES = ("pyav_decode_only", "pyav_raw", "ffmpeg_cli", "project_decode", "torchvision",
          "project_dataset_nocache", "project_cold", "project_cached", "project_cached_jpeg")


def _proc_status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def _memory_baseline() -> tuple[str, float]:
    """Reset the peak-RSS mark where Linux allows it; return (method, baseline MiB).

    Imports leave a transient peak above the resident size they settle at; a reader whose
    own growth stays below that peak would show a zero delta. ``/proc/self/clear_refs``
    ("5") resets the high-water mark (VmHWM) to the current resident size, so the delta
    is the reader's own. Elsewhere: ru_maxrss after imports (a lower bound of the delta).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        rss = _proc_status_mib("VmRSS")
        if rss is not None and _proc_status_mib("VmHWM") is not None:
            return "VmHWM after clear_refs", rss
    except OSError:
        pass
    return "ru_maxrss", _maxrss_mib()


def _memory_peak(method: str) -> float:
    if method.startswith("VmHWM"):
        return _proc_status_mib("VmHWM") or 0.0
    return _maxrss_mib()


def _maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes vs KiB


# ----------------------------------------------------------------------- readers (child)


def _pyav(files: list[str], rate: int, convert: bool) -> tuple[int, float]:
    import av

    n = 0
    for f in files:
        with av.open(f) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if not convert:
                    n += 1
                elif i % rate == 0:
                    frame.to_ndarray(format="rgb24")
                    n += 1
    return n, 0.0


def _ffmpeg(files: list[str], rate: int, size: int, list_file: str) -> tuple[int, float]:
    """FFmpeg itself, one process over all files (concat demuxer): decode every frame, keep
    every ``rate``-th frame of the concatenation, scale to size x size, RGB24 to a pipe.
    (The kept frames are counted from the concatenation, not per video: about as many.)"""
    Path(list_file).write_text("".join(f"file '{f}'\n" for f in files))
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-benchmark", "-f", "concat", "-safe", "0", "-i", list_file,
           "-vf", f"select=not(mod(n\\,{rate})),scale={size}:{size}", "-vsync", "0",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return len(out) // (size * size * 3), 0.0


def _project_decode(root: str, rate: int, seq_len: int, size: int, crop: int) -> tuple[int, float]:
    import numpy as np
    import torch

    from strn.data.cache import FrameCache
    from strn.data.transforms import crop_batch
    from strn.data.ucf101 import read_split
    from strn.data.video import sequence_windows

    t0 = time.perf_counter()
    index = read_split(root, 1)
    t_index = time.perf_counter() - t0
    cache, n = FrameCache(None), 0
    for entry in index.subset("train") + index.subset("test"):
        frames = cache.get(index.videos_dir / entry.path, rate, size)
        for window in sequence_windows(len(frames), seq_len):
            clip = torch.from_numpy(np.ascontiguousarray(frames[list(window)])).permute(0, 3, 1, 2)
            n += crop_batch(clip[None], crop, None).shape[1]  # the engine's central crop
    return n, t_index


def _dataset(root: str, rate: int, seq_len: int, size: int, crop: int,
             cache_root: str | None, codec: str = "raw") -> tuple[int, float]:
    from strn.data.cache import FrameCache
    from strn.data.datasets import SequenceDataset
    from strn.data.ucf101 import read_split

    t0 = time.perf_counter()
    index = read_split(root, 1)
    cache = FrameCache(cache_root, codec=codec)
    sets = [SequenceDataset(index, s, rate=rate, seq_len=seq_len, size=size,
                            cache=cache, progress=False) for s in ("train", "test")]
    t_index = time.perf_counter() - t0
    n = 0
    for ds in sets:
        for i in range(len(ds)):
            n += ds[i][0].shape[0]
    return n, t_index


def _torchvision(root: str, rate: int, seq_len: int, size: int, fps: float) -> tuple[int, float]:
    from torchvision.datasets import UCF101
    from torchvision.transforms.v2 import functional as F

    def transform(video):  # (T, C, H, W) uint8, as the project: shorter side, centre crop
        return F.center_crop(F.resize(video, [size], antialias=True), [size, size])

    kw = dict(frames_per_clip=seq_len, step_between_clips=seq_len, frame_rate=fps / rate,
              fold=1, output_format="TCHW", num_workers=0, transform=transform)
    videos, lists = str(Path(root) / "UCF-101"), str(Path(root) / "ucfTrainTestlist")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not enough frames for a clip" per short video
        train = UCF101(videos, lists, train=True, **kw)
        test = UCF101(videos, lists, train=False, _precomputed_metadata=train.metadata, **kw)
    t_index = time.perf_counter() - t0
    n = 0
    for ds in (train, test):
        for i in range(len(ds)):
            n += ds[i][0].shape[0]
    return n, t_index


def _child(args: argparse.Namespace) -> None:
    """Run one reader ``--repeat`` times in this fresh process; print a JSON line."""
    import numpy as np  # noqa: F401  (imports before the memory baseline)
    import torch  # noqa: F401

    import strn.data.datasets  # noqa: F401

    if args.phase == "torchvision":
        import torchcodec.decoders  # noqa: F401
        import torchvision.datasets  # noqa: F401
    files = json.loads(Path(args.files).read_text())
    p, root = args.phase, args.root
    cfg = (args.rate, args.seq_len, args.size)
    runs = {
        "pyav_decode_only": lambda _: _pyav(files, args.rate, convert=False),
        "pyav_raw": lambda _: _pyav(files, args.rate, convert=True),
        "ffmpeg_cli": lambda _: _ffmpeg(files, args.rate, args.size, f"{args.cache_dir}.ffconcat"),
        "project_decode": lambda _: _project_decode(root, *cfg, args.crop),
        "torchvision": lambda _: _torchvision(root, *cfg, args.fps),
        "project_dataset_nocache": lambda _: _dataset(root, *cfg, args.crop, None),
        "project_cold": lambda k: _dataset(root, *cfg, args.crop, f"{args.cache_dir}/cold{k}"),
        "project_cached": lambda _: _dataset(root, *cfg, args.crop, f"{args.cache_dir}/warm"),
        "project_cached_jpeg": lambda _: _dataset(root, *cfg, args.crop, f"{args.cache_dir}/warm-jpeg", "jpeg90"),
    }
    if p == "fill":  # untimed: fill the warm caches in a process of their own
        _dataset(root, *cfg, args.crop, f"{args.cache_dir}/warm")
        _dataset(root, *cfg, args.crop, f"{args.cache_dir}/warm-jpeg", "jpeg90")
        print(json.dumps({"phase": p}))
        return
    method, base = _memory_baseline()
    seconds, index_s, frames = [], [], None
    # The no-cache dataset is ~5x slower than the rest and only informational: run once.
    for k in range(1 if p == "project_dataset_nocache" else args.repeat):
        t0 = time.perf_counter()
        n, t_index = runs[p](k)
        seconds.append(time.perf_counter() - t0)
        index_s.append(t_index)
        frames = n if frames is None else frames
        if n != frames:
            raise RuntimeError(f"{p}: {n} frames in run {k}, {frames} before")
        if p == "project_cold":
            shutil.rmtree(f"{args.cache_dir}/cold{k}", ignore_errors=True)
    peak = _memory_peak(method)
    print(json.dumps({"phase": p, "frames": frames, "seconds": seconds, "index_seconds": index_s,
                      "memory_method": method, "rss_base_mib": round(base, 1),
                      "rss_peak_mib": round(peak, 1)}))


# ----------------------------------------------------------------------------- parent


def _run_child(phase: str, args: argparse.Namespace, root: Path, files: Path, cache_dir: Path,
               fps: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--root", str(root),
           "--files", str(files), "--cache-dir", str(cache_dir), "--fps", str(fps),
           "--rate", str(args.rate), "--seq-len", str(args.seq_len), "--size", str(args.size),
           "--crop", str(args.crop), "--repeat", str(args.repeat)]
    env = {**os.environ, "STRN_QUIET": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"reader {phase} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    from strn.paths import default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="where the demo synthetic set lives or is generated "
                         "(default: strn.paths.default_data_dir())")
    ap.add_argument("--preset", choices=("demo", "ucf-shaped"), default="demo",
                    help="demo: the demo synthetic set at 48 px; ucf-shaped: --clips 320x240 MPEG-4 clips "
                         "(strn/data/synth_ucf.py) at the full profile's 256 px")
    ap.add_argument("--clips", type=int, default=40, help="ucf-shaped clips")
    ap.add_argument("--out", type=Path, default=None,
                    help="default results/bench/data.json (demo) or data_ucf.json (ucf-shaped)")
    ap.add_argument("--rate", type=int, default=10)
    ap.add_argument("--seq-len", type=int, default=2)
    ap.add_argument("--size", type=int, default=None, help="frame size (default: demo 48, ucf-shaped 256)")
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs per reader; the best is used")
    ap.add_argument("--only", nargs="*", choices=PHASES, help="run only these readers")
    # internal: one reader in a child process
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    ap.add_argument("--fps", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    ucf = args.preset == "ucf-shaped"
    args.size = args.size or (256 if ucf else 48)
    args.crop = args.crop or args.size
    args.out = args.out or REPO / "results" / "bench" / ("data_ucf.json" if ucf else "data.json")
    if args.phase:
        _child(args)
        return {}

    from strn.data.ucf101 import read_split
    from strn.results import atomic_write_text, environment
    from strn.data.synth import spec_for_profile
    from strn.data.synth_files import ensure_synthetic

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    data_dir = args.data_dir or default_data_dir()
    t0 = time.perf_counter()
    if ucf:  # the ucf-shaped clips in a UCF-101 layout of symlinks (all in split 1's train list)
        from bench_loader import ucf_layout

        from strn.data.synth_ucf import UcfShapedSpec, write_ucf_shaped

        work = Path(data_dir) / "bench-data-ucf"
        spec = UcfShapedSpec(n_clips=args.clips)
        root = ucf_layout(work / "ucf", write_ucf_shaped(work / "clips", spec), test_every=4)
    else:
        root = ensure_synthetic("demo", data_dir)
    gen_s = time.perf_counter() - t0
    index = read_split(root, 1)
    paths = [str(index.videos_dir / e.path) for e in index.subset("train") + index.subset("test")]
    for p in paths:  # warm the OS file cache: no reader pays the disk
        Path(p).read_bytes()
    phases = [p for p in PHASES if not args.only or p in args.only]
    if "ffmpeg_cli" in phases and shutil.which("ffmpeg") is None:
        print("ffmpeg_cli: skipped, no ffmpeg on PATH (apt-get install ffmpeg)")
        phases.remove("ffmpeg_cli")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="strn-bench-") as tmp:
        files = Path(tmp) / "files.json"
        files.write_text(json.dumps(paths))
        cache_dir = Path(tmp) / "cache"
        fps = float(spec.fps if ucf else spec_for_profile("demo").fps)
        if "project_cached" in phases or "project_cached_jpeg" in phases:
            _run_child("fill", args, root, files, cache_dir, fps)
        for phase in phases:
            r = _run_child(phase, args, root, files, cache_dir, fps)
            best = min(r["seconds"])
            r.update(seconds_best=best, seconds_median=statistics.median(r["seconds"]),
                     index_seconds_best=min(r["index_seconds"]), frames_per_s=r["frames"] / best,
                     peak_rss_delta_mib=round(r["rss_peak_mib"] - r["rss_base_mib"], 1))
            results[phase] = r
            print(f"{phase:24s} {r['frames_per_s']:9.0f} frames/s  ({r['frames']} frames, best "
                  f"{best:.3f}s of {len(r['seconds'])}, indexing {r['index_seconds_best']:.3f}s, "
                  f"peak RSS +{r['peak_rss_delta_mib']:.1f} MiB)", flush=True)
    ratios = {}
    for name, (num, den, target) in TARGETS.items():
        if num in results and den in results:
            value = results[num]["frames_per_s"] / results[den]["frames_per_s"]
            ratios[name] = {"value": value, "target": target, "met": value >= target}
            print(f"{name:24s} {value:7.2f}x  (target >= {target:g}x: "
                  f"{'met' if value >= target else 'MISSED'})")
    for name, (num, den) in CONTEXT.items():
        if num in results and den in results:
            value = results[num]["frames_per_s"] / results[den]["frames_per_s"]
            ratios[name] = {"value": value, "target": None, "met": None}
            print(f"{name:24s} {value:7.2f}x  (context, no target)")
    if "pyav_decode_only" in results:
        n_sampled = results.get("pyav_raw", {}).get("frames")
        if n_sampled:
            floor = n_sampled / results["pyav_decode_only"]["seconds_best"]
            results["pyav_decode_only"]["sampled_frames_per_s_if_conversion_free"] = floor
            print(f"{'decode floor':24s} {floor:9.0f} sampled frames/s (every frame decoded, "
                  "none converted)")
            if "torchvision" in results:
                # Both readers must decode every frame up to a sampled one (inter-coded
                # video): no reader can beat torchvision by more than this.
                bound = floor / results["torchvision"]["frames_per_s"]
                ratios.setdefault("project_vs_torchvision", {})["bound_by_decode_floor"] = bound
                print(f"{'  bound on project/tv':24s} {bound:7.2f}x (decode floor / torchvision)")
    report = {
        "benchmark": "data", "preset": args.preset, "dataset": str(root), "split": 1, "subsets": ["train", "test"],
        "n_videos": len(paths), "rate": args.rate, "seq_len": args.seq_len, "size": args.size,
        "crop": args.crop, "repeat": args.repeat, "synthetic_generation_s": gen_s,
        "readers": results, "ratios": ratios,
        "timing": "best of --repeat runs, each reader in a fresh process, imports excluded",
        "memory": "peak RSS growth in a fresh process per reader (see module docstring)",
        "machine": {"cpu_count": os.cpu_count(),
                    "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "env": environment(),
        "wall_s": time.perf_counter() - t_start,
    }
    try:
        import torchcodec

        report["env"]["torchcodec"] = torchcodec.__version__
    except Exception:  # noqa: BLE001 - reported as missing
        report["env"]["torchcodec"] = None
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} ({report['wall_s']:.0f}s)")
    return report


if __name__ == "__main__":
    main()
