"""Frame-cache codec by measurement (issue 16 item 3, measurement only; the cache is unchanged).

Frames of the ucf-shaped set at the full profile's cache size (every 10th frame, 256 x 256)
stored raw (uint8) or as JPEG at a few qualities: bytes per frame, the split-1 cache size
projected from it (UCF-101 split 1 at r = 10: train + test frames below), decode time per
frame (torchvision.io.decode_jpeg, one thread) against reading raw bytes (a copy), and the
error. Interleaved ABAB per round, medians; records the load average.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/bench_cache_codec.py
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.io import decode_jpeg, encode_jpeg

from strn.data.video import decode_sampled
from strn.data.synth_ucf import UcfShapedSpec, write_ucf_shaped

# UCF-101: 13,320 clips, ~2.48 M frames (mean 186 frames); split 1 is all of them
# (train 9,537 + test 3,783), so r = 10 keeps ~ 2.48 M / 10 frames.
SPLIT1_FRAMES_R10 = 2_484_000 // 10


def main() -> dict:
    torch.set_num_threads(1)
    files = write_ucf_shaped("/tmp/strn-ucf-shaped", UcfShapedSpec())[:30]
    frames = np.concatenate([decode_sampled(f, 10, 256) for f in files])
    chw = [torch.from_numpy(f).permute(2, 0, 1).contiguous() for f in frames]
    out = {"frames": len(chw), "size": 256, "split1_frames_r10": SPLIT1_FRAMES_R10,
           "codecs": {}}
    raw_bytes = frames[0].nbytes
    codecs = {"raw": None, "jpeg90": 90, "jpeg95": 95, "jpeg80": 80}
    enc = {k: [encode_jpeg(x, quality=q) for x in chw] for k, q in codecs.items() if q}
    times = {k: [] for k in codecs}
    for _ in range(3):
        for k in codecs:
            t = time.perf_counter()
            if k == "raw":
                for x in chw:
                    x.clone()
            else:
                for b in enc[k]:
                    decode_jpeg(b)
            times[k].append((time.perf_counter() - t) / len(chw))
    for k, q in codecs.items():
        per = raw_bytes if q is None else statistics.mean(len(b) for b in enc[k])
        err = 0.0 if q is None else float(np.mean([
            (decode_jpeg(b).float() - x.float()).abs().mean() for b, x in zip(enc[k][:50], chw[:50])]))
        out["codecs"][k] = {"bytes_per_frame": round(per), "split1_r10_gb": round(per * SPLIT1_FRAMES_R10 / 1e9, 2),
                            "read_ms_per_frame": round(1000 * statistics.median(times[k]), 3),
                            "mean_abs_error_0_255": round(err, 2), "runs_s_per_frame": times[k]}
    out["loadavg"] = os.getloadavg()
    Path("results/bench/cache_codec.json").write_text(json.dumps(out, indent=1) + "\n")
    for k, v in out["codecs"].items():
        print(k, v["bytes_per_frame"], "B/frame,", v["split1_r10_gb"], "GB split-1 r=10,",
              v["read_ms_per_frame"], "ms/frame, error", v["mean_abs_error_0_255"])
    return out


if __name__ == "__main__":
    main()
