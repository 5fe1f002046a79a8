"""Render the committed benchmark results into the README's performance section and a figure.

    .venv/bin/python benchmarks/render.py     # after bench_data.py / bench_model.py

The README text between the markers below is replaced; nothing in it is typed by hand.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _machine(env: dict) -> str:
    return f"{env.get('device_name') or env.get('device')}, {env.get('cpu_threads', '?')} threads, torch {env.get('torch')}"


def section(bench_dir: Path) -> str:
    """Markdown of the data and model benchmarks found in ``bench_dir``."""
    lines: list[str] = []
    data_p, model_p = bench_dir / "data.json", bench_dir / "model.json"
    if data_p.exists():
        d = json.loads(data_p.read_text())
        lines += ["**Data path** (`benchmarks/bench_data.py`, demo set, every 10th frame, T = 2; "
                  f"{_machine(d.get('env', {}))}):", "",
                  "| comparison | ratio | target |", "|---|---|---|"]
        for name, r in d.get("ratios", {}).items():
            goal = "(context)" if r.get("target") is None else \
                f"≥ {r['target']}× ({'met' if r['met'] else 'missed'})"
            lines.append(f"| {name.replace('_', ' ')} | {r['value']:.2f}× | {goal} |")
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
    return "\n".join(lines) if lines else "(no benchmark results yet)"


def render_readme(readme: Path, bench_dir: Path) -> bool:
    """Replace the README's performance section; returns whether the file changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers for the performance section")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{section(bench_dir)}\n{END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


def main() -> None:
    changed = render_readme(ROOT / "README.md", ROOT / "results" / "bench")
    print("README performance section", "updated" if changed else "unchanged")


if __name__ == "__main__":
    sys.exit(main())
