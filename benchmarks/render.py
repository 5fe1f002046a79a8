"""Render the committed benchmark results: the long tables into benchmarks/README.md, a short
summary into the README's performance section.

    .venv/bin/python benchmarks/render.py     # after bench_data.py / bench_model.py / bench_loader.py

The text between the markers below is replaced in both files; nothing in it is typed by hand.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from strn.study import cost  # noqa: E402

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
# The full profile's expected time and memory per notebook (strn/study/cost.py), from the GPU results.
COST_START, COST_END = "<!-- fullcost:start -->", "<!-- fullcost:end -->"


def _machine(env: dict) -> str:
    return f"{env.get('device_name') or env.get('device')}, {env.get('cpu_threads', '?')} threads, torch {env.get('torch')}"


def section(bench_dir: Path) -> str:
    """Markdown of the data and model benchmarks found in ``bench_dir``."""
    lines: list[str] = []
    data_p, model_p = bench_dir / "data.json", bench_dir / "model.json"
    reader_p = bench_dir / "reader.json"
    if reader_p.exists():
        r = json.loads(reader_p.read_text())
        st = r["set"]
        lines += [f"**Reader against the decode floor** (`benchmarks/bench_reader.py`, ucf-shaped set: "
                  f"{st['n_clips']} clips, {st['width']}x{st['height']} MPEG-4, {st['fps']} fps; every "
                  f"{r['rate']}th frame to {r['size']} px, one process): floor {r['floor_s']:.2f} s "
                  f"(decode {r['decode_all_s']:.2f} + convert {r['convert_kept_s']:.2f}), project "
                  f"{r['project_s']:.2f} s = **{r['project_share_of_floor']:.2f} of the floor** "
                  f"(target ≥ {r['target']}: {'met' if r['project_share_of_floor'] >= r['target'] else 'missed'}); "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB.", ""]
    for path, what in ((bench_dir / "data_ucf.json", "ucf-shaped set"), (data_p, "demo set")):
        if not path.exists():
            continue
        d = json.loads(path.read_text())
        n = f"{d['n_videos']} clips, " if "n_videos" in d else ""
        lines += [f"**Data path** (`benchmarks/bench_data.py`, {what}, {n}every {d.get('rate', 10)}th frame, T = "
                  f"{d.get('seq_len', 2)}, {d.get('size', 48)} px; {_machine(d.get('env', {}))}):", "",
                  "| comparison | ratio | target |", "|---|---|---|"]
        for name, r in d.get("ratios", {}).items():
            goal = "(context)" if r.get("target") is None else \
                f"≥ {r['target']}× ({'met' if r['met'] else 'missed'})"
            lines.append(f"| {name.replace('_', ' ')} | {r['value']:.2f}× | {goal} |")
        readers = d.get("readers", {})
        if readers:
            lines += ["", "| reader | frames/s | peak RSS growth MiB |", "|---|---|---|"]
            lines += [f"| {k.replace('_', ' ')} | {r['frames_per_s']:,.0f} | {r['peak_rss_delta_mib']:.0f} |"
                      for k, r in readers.items()]
        lines.append("")
    if model_p.exists():
        m = json.loads(model_p.read_text())
        lines += ["**Model** (`benchmarks/bench_model.py`, STRN over the plain ResNet on the same frames, "
                  f"{m['device']}, {_machine(m.get('env', {}))}):", "",
                  "| network | T | mode | plain ms | STRN ms | ratio |", "|---|---|---|---|---|---|"]
        for r in m["rows"]:
            lines.append(f"| {r['config']} | {r['T']} | {r['mode']} | {r['plain_s'] * 1e3:.1f} | "
                         f"{r['strn_s'] * 1e3:.1f} | {r['ratio']:.3f} |")
        lines += ["", f"Worst training-step ratio at T = 2 and 5: {m['worst_train_ratio_T2_T5']:.3f} "
                  f"(target ≤ {m['target']})."]
    epoch_p = bench_dir / "epoch.json"
    if epoch_p.exists():
        e = json.loads(epoch_p.read_text())
        lines += ["", "**End to end** (`benchmarks/bench_epoch.py`, one training epoch of the demo STRN, "
                  f"{_machine(e.get('env', {}))}; figure `figures/bench/scaling.png`):", "",
                  "| sampling rate r | sequences | epoch s | frames/s | thesis hours |", "|---|---|---|---|---|"]
        for r in e["sweeps"]["rate"]:
            lines.append(f"| {r['rate']} | {r['sequences']} | {r['epoch_s']:.1f} | {r['frames_per_s']:.0f} | "
                         f"{e['thesis_hours_by_rate'].get(str(r['rate']), '')} |")
        lines += ["", f"At the demo's per-frame rate a UCF-101 split-1 epoch ({e['ucf101_split1_frames']} sampled "
                  f"frames, the benchmark issue's estimate) would take {e['ucf101_split1_epoch_h_at_demo_rate']:.2f} h on this CPU with the narrow "
                  "48 px net (not the thesis's ResNet-50 at 224 px)."]
    lines += cache_lines(bench_dir) + loader_lines(bench_dir)
    lines += gpu_lines(bench_dir)
    return "\n".join(lines) if lines else "(no benchmark results yet)"


def cache_lines(bench_dir: Path) -> list[str]:
    """Frame-cache codecs (bench_cache_codec.py): size of the split-1 cache, read cost, error."""
    p = bench_dir / "cache_codec.json"
    if not p.exists():
        return []
    c = json.loads(p.read_text())
    lines = ["", f"**Frame-cache codec** (`benchmarks/bench_cache_codec.py`, {c['frames']} kept frames of ucf-shaped "
             f"clips at {c['size']} px; split-1 cache at r = 10 projected from {c['split1_frames_r10']:,} frames):", "",
             "| codec | bytes per frame | split-1 cache at r = 10 | read ms per frame (one thread) | mean abs error (0-255) |",
             "|---|---|---|---|---|"]
    for name, r in c["codecs"].items():
        lines.append(f"| {name} | {r['bytes_per_frame']:,} | {r['split1_r10_gb']:.1f} GB | {r['read_ms_per_frame']:.3f} | "
                     f"{r['mean_abs_error_0_255']:.2f} |")
    return lines


def _loader_summary(lo: dict) -> str:
    p = lo["peers"]
    raw, jpeg, before = p["raw_cache"], p["jpeg_cache"], p["raw_cache_before"]
    per_epoch = " / ".join(f"{e['ratio_to_in_memory']:.2f}" for e in raw["epochs"])
    return (f"the real loader (workers kept across epochs) reaches {raw['ratio_to_in_memory']:.2f} (raw cache) / "
            f"{jpeg['ratio_to_in_memory']:.2f} (JPEG cache) of the in-memory rate over a run of {lo['epochs']} "
            f"epochs of {lo['batches']} batches (raw, per epoch: {per_epoch}), projected "
            f"{raw['projected_full_epoch_ratio']:.2f} / {jpeg['projected_full_epoch_ratio']:.2f} over a UCF-101 "
            f"split-1 epoch; the per-epoch DataLoader it replaced {before['ratio_to_in_memory']:.2f} over the same run "
            f"(target ≥ {raw['target']})")


def loader_lines(bench_dir: Path) -> list[str]:
    """The real loader against the in-memory ceiling (bench_loader.py)."""
    p = bench_dir / "loader.json"
    if not p.exists():
        return []
    lo = json.loads(p.read_text())
    lines = ["", f"**Loader against in-memory** (`benchmarks/bench_loader.py`, {lo['dataset']}; every {lo['rate']}th "
             f"frame, T = {lo['seq_len']}, {lo['size']} px, micro-batches of {lo['batch_size']}, {lo['workers']} "
             f"worker(s); a stand-in GPU step of {1e3 * lo['step']['s_per_frame']:.2f} ms per frame, the full "
             f"profile's per-worker budget; medians of {lo['repeat']} interleaved rounds): {_loader_summary(lo)}.", "",
             "| peer | epochs × batches | frames/s | of in-memory over the run | per epoch | first batch s per epoch | "
             "workers' CPU s / run s | a batch alone: items + to shared memory (ms) | old collation: stack + copy (ms) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in lo["peers"].items():
        c = r.get("worker_cost_one_batch")
        cost_s = f"{c['items_ms']:.0f} + {c['stack_shared_ms']:.0f} ({c['batch_sequences']} sequences)" if c else ""
        old_s = f"{c['old_stack_ms']:.0f} + {c['old_to_shared_memory_ms']:.0f}" if c else ""
        ratio = "" if name == "in_memory" else f"{r['ratio_to_in_memory']:.3f}"
        per_epoch = "" if name == "in_memory" else " / ".join(f"{e['ratio_to_in_memory']:.3f}" for e in r["epochs"])
        first = " / ".join(f"{e['first_batch_s']:.2f}" for e in r["epochs"])
        lines.append(f"| {name.replace('_', ' ')} | {len(r['epochs'])} × {r.get('batches_per_epoch', lo['batches'])} | "
                     f"{r['frames_per_s']:.0f} | {ratio} | {per_epoch} | {first} | {r['worker_cpu_s']:.2f} / "
                     f"{r['seconds']:.1f} | {cost_s} | {old_s} |")
    demo = lo.get("demo_setting_batch_cost_ms")
    if demo:
        tot = {k: v["items_ms"] + v["stack_shared_ms"] for k, v in demo.items()}
        lines += ["", f"At the demo setting (48 px, 16 sequences) a batch costs a worker {tot['raw']:.1f} ms from the raw "
                  f"cache and {tot['jpeg90']:.1f} ms from the JPEG cache: raw stays the default there."]
    return lines


def summary(bench_dir: Path) -> str:
    """The README's short performance block: one line per finding, the tables in benchmarks/README.md."""
    lines = []
    reader_p, loader_p, codec_p = bench_dir / "reader.json", bench_dir / "loader.json", bench_dir / "cache_codec.json"
    model_p, gpu_p = bench_dir / "model.json", bench_dir / "gpu.json"
    if reader_p.exists():
        r = json.loads(reader_p.read_text())
        lines.append(f"- Reader (decode every {r['rate']}th frame to {r['size']} px, UCF-shaped MPEG-4): "
                     f"**{r['project_share_of_floor']:.2f} of the decode floor** (target ≥ {r['target']}).")
    if loader_p.exists():
        lines.append(f"- Training loader on the CPU, warm cache: {_loader_summary(json.loads(loader_p.read_text()))}.")
    if codec_p.exists():
        c = json.loads(codec_p.read_text())["codecs"]
        lines.append(f"- Frame cache of UCF-101 split 1 at r = 10: {c['raw']['split1_r10_gb']:.1f} GB raw, "
                     f"{c['jpeg90']['split1_r10_gb']:.1f} GB as JPEG q90 (the full profile's `data.cache_codec`).")
    if model_p.exists():
        m = json.loads(model_p.read_text())
        lines.append(f"- STRN's training step over the plain ResNet's on the same frames: at most "
                     f"{m['worst_train_ratio_T2_T5']:.3f}× (target ≤ {m['target']}).")
    if gpu_p.exists():
        g = json.loads(gpu_p.read_text())
        best = max((r for r in g["model"] if r["mode"] == "train" and r["T"] == 2), key=lambda r: r["strn_frames_per_s"])
        lines.append(f"- GPU ({g['env']['device_name']}): STRN trains at {best['strn_frames_per_s']:,.0f} frames/s "
                     f"(T = 2, {best['batch']} sequences, {100 * best['strn_peak_fraction']:.0f}% of the matmul rate).")
    lines.append("- Every table, and how each number is measured: [`benchmarks/README.md`](benchmarks/README.md).")
    return "\n".join(lines)


def gpu_lines(bench_dir: Path) -> list[str]:
    """The GPU run (bench_gpu.py): model steps at 224 px and the training engine."""
    gpu_p, eng_p = bench_dir / "gpu.json", bench_dir / "gpu_engine.json"
    if not gpu_p.exists():
        return []
    g = json.loads(gpu_p.read_text())
    env, mm, chk = g["env"], g["matmul"], g["check"]
    lines = ["", f"**GPU** (`benchmarks/bench_gpu.py`, {env['device_name']}, torch {env['torch']}; ResNet-50 at "
             f"224 px, bf16 autocast, channels_last). Measured bf16 matmul rate {mm['tflops']:.0f} TFLOP/s "
             f"({mm['n']}³, random data); the CUDA model against the CPU one: relative error {chk['fp32_rel_err']:.1e} "
             f"in fp32, {chk['bf16_rel_err']:.1e} in bf16.", "",
             "| mode | T | sequences per step | plain frames/s | STRN frames/s | ratio | STRN peak GiB | "
             "STRN share of matmul rate |", "|---|---|---|---|---|---|---|---|"]
    for r in g["model"] + g.get("compile", []):
        mode = r["mode"] + (f", torch.compile ({r['compiled']})" if r.get("compiled") else "")
        lines.append(f"| {mode} | {r['T']} | {r['batch']} | {r['plain_frames_per_s']:,.0f} | "
                     f"{r['strn_frames_per_s']:,.0f} | {r['ratio']:.3f} | {r['strn_peak_gib']:.1f} | "
                     f"{100 * r['strn_peak_fraction']:.0f}% |")
    if g.get("skipped"):
        lines += ["", f"Not reached within the run's time budget: {'; '.join(g['skipped'])}."]
    warm = cost.engine_rows(g, eng_p)
    if warm:
        own = any(r.get("shapes_warm") for r in g.get("engine", []))
        source = "the same run" if own else "`results/bench/gpu_engine.json`, which says how it was run"
        device = g["env"]["device_name"] if own else json.loads(eng_p.read_text())["env"]["device_name"]
        lines += ["", f"**Training engine on the GPU** (`train_one_epoch` and `evaluate` of the full profile over "
                  f"in-memory frames, {device}; {source}):", "",
                  "| loader workers | sequences per micro-batch | train frames/s | eval frames/s | peak GiB | "
                  f"UCF-101 split-1 epoch (s) | target ≤ {g['target_epoch_s']:.0f} s on one H100 |",
                  "|---|---|---|---|---|---|---|"]
        for r in warm:
            met = "met" if r["split1_epoch_s"] <= g["target_epoch_s"] else "missed"
            lines.append(f"| {r['workers']} | {r['micro_batch']} | {r['train_frames_per_s']:,.0f} | "
                         f"{r['eval_frames_per_s']:,.0f} | {r['train_peak_gib']:.1f} | {r['split1_epoch_s']:.0f} | "
                         f"{met} (on the {device.replace('NVIDIA ', '')}) |")
    return lines


def cost_section(bench_dir: Path) -> str:
    """Expected GPU hours and memory per notebook at the full profile (strn/study/cost.py)."""
    gpu_p, eng_p = bench_dir / "gpu.json", bench_dir / "gpu_engine.json"
    if not gpu_p.exists():
        return "(no GPU benchmark results yet: run `benchmarks/bench_gpu.py` on a GPU)"
    rates = cost.load_rates(gpu_p, eng_p)
    return cost.markdown(rates, cost.notebook_estimates(rates))


def _replace(text: str, start: str, end: str, body: str, readme: Path) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render_readme(readme: Path, bench_dir: Path, body=None) -> bool:
    """Replace the README's performance section (``body(bench_dir)``, default the summary) and,
    where its markers are, the full profile's cost table; returns whether the file changed."""
    text = readme.read_text()
    if START not in text and COST_START not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} (or {COST_START} ... {COST_END}) markers")
    new = _replace(text, START, END, (body or summary)(bench_dir), readme) if START in text else text
    if COST_START in new:
        new = _replace(new, COST_START, COST_END, cost_section(bench_dir), readme)
    if new != text:
        readme.write_text(new)
    return new != text


def main() -> None:
    bench = ROOT / "results" / "bench"
    changed = render_readme(ROOT / "README.md", bench)
    print("README performance section", "updated" if changed else "unchanged")
    changed = render_readme(ROOT / "docs" / "FULL_STUDY.md", bench)  # the full profile's cost table
    print("docs/FULL_STUDY.md full-profile cost", "updated" if changed else "unchanged")
    changed = render_readme(ROOT / "benchmarks" / "README.md", bench, section)
    print("benchmarks/README.md tables", "updated" if changed else "unchanged")


if __name__ == "__main__":
    sys.exit(main())
