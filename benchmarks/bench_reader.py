"""The project's reader against the decode floor, on the ``ucf-shaped`` set (issue 16, item 2).

Floor, measured in the same run: decoding every frame without conversion (PyAV, same thread
settings as the reader) plus the cheapest conversion of the kept frames, timed alone: one
reused ``VideoReformatter`` straight to the target size (shorter side = size) in rgb24,
over frames decoded beforehand. The floor is the sum. The reader is
``strn.data.video.decode_sampled(path, rate, size)`` (decode + convert + centre crop).

Readers are interleaved (ABAB over ``--repeat`` rounds, median per reader) so machine load
hits both alike; the JSON records the load average. One process, one thread of numpy.

    nice -n 5 python benchmarks/bench_reader.py [--clips 200] [--out results/bench/reader.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import av
from av.video.reformatter import Interpolation, VideoReformatter

from strn.data.video import open_stream, scaled_dims, decode_sampled
from strn.data.synth_ucf import UcfShapedSpec, write_ucf_shaped


def _decode_only(files: list[Path]) -> tuple[float, list]:
    """Seconds to decode every frame; also the kept frames (every rate-th) for the convert step."""
    t = time.perf_counter()
    for f in files:
        with av.open(str(f)) as c:
            for _ in c.decode(open_stream(c, f)):
                pass
    return time.perf_counter() - t


def _kept_frames(files: list[Path], rate: int) -> list:
    kept = []
    for f in files:
        with av.open(str(f)) as c:
            for i, fr in enumerate(c.decode(open_stream(c, f))):
                if i % rate == 0:
                    kept.append(fr)
    return kept


def _convert(kept: list, size: int) -> float:
    scaler = VideoReformatter()
    w, h = scaled_dims(kept[0].width, kept[0].height, size)
    t = time.perf_counter()
    for fr in kept:
        scaler.reformat(fr, width=w, height=h, format="rgb24",
                        interpolation=Interpolation.BILINEAR, threads=1).to_ndarray()
    return time.perf_counter() - t


def _project(files: list[Path], rate: int, size: int) -> tuple[float, int]:
    t = time.perf_counter()
    n = sum(len(decode_sampled(f, rate, size)) for f in files)
    return time.perf_counter() - t, n


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--rate", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="/tmp/strn-ucf-shaped")
    ap.add_argument("--out", default="results/bench/reader.json")
    args = ap.parse_args(argv)
    spec = UcfShapedSpec(n_clips=args.clips)
    t0 = time.perf_counter()
    files = write_ucf_shaped(Path(args.data), spec)
    gen_s = time.perf_counter() - t0
    n_frames = sum(spec.lengths())

    kept = _kept_frames(files[: max(1, len(files) // 4)], args.rate)  # a quarter, scaled up
    scale = n_frames / sum(spec.lengths()[: max(1, len(files) // 4)])
    dec, conv, proj = [], [], []
    n_kept = 0
    for _ in range(args.repeat):  # ABAB: floor parts and the reader alternate
        dec.append(_decode_only(files))
        s, n_kept = _project(files, args.rate, args.size)
        proj.append(s)
        conv.append(_convert(kept, args.size) * scale)
    floor = statistics.median(dec) + statistics.median(conv)
    project = statistics.median(proj)
    # Peak memory of the reader alone over one clip of the longest length.
    longest = files[max(range(len(files)), key=lambda i: spec.lengths()[i])]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decode_sampled(longest, args.rate, args.size)
    out = {
        "benchmark": "reader vs decode floor (issue 16 item 2)",
        "set": {"preset": "ucf-shaped", **spec.__dict__, "frames": n_frames,
                "generation_s": round(gen_s, 1)},
        "rate": args.rate, "size": args.size, "repeat": args.repeat,
        "decode_all_s": round(statistics.median(dec), 3),
        "convert_kept_s": round(statistics.median(conv), 3),
        "floor_s": round(floor, 3), "project_s": round(project, 3),
        "kept_frames": n_kept,
        "project_share_of_floor": round(floor / project, 3), "target": 0.9,
        "project_ms_per_kept_frame": round(1000 * project / n_kept, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_growth_longest_clip_mib": round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1),
        "loadavg": os.getloadavg(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "pyav": av.__version__, "python": sys.version.split()[0],
        "runs": {"decode_all_s": dec, "convert_kept_s": conv, "project_s": proj},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"floor {floor:.3f} s (decode {out['decode_all_s']} + convert {out['convert_kept_s']}), "
          f"project {project:.3f} s: {out['project_share_of_floor']} of the floor (target 0.9); "
          f"load {os.getloadavg()}")
    return out


if __name__ == "__main__":
    main()
