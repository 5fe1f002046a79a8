"""Figure of the demo calibration: test video error against epochs, one line per row and
variant, with chance and the single-frame floor (results/calibration/demo.json ->
figures/demo/calibration.png).  PYTHONPATH=. python benchmarks/plot_calibration.py"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "results" / "calibration" / "demo.json"
dst = REPO / "figures" / "demo" / "calibration.png"
runs = json.loads(src.read_text())["runs"]
fig, ax = plt.subplots(figsize=(7, 4.2))
colours = {"frame-average": "tab:grey", "identity-98-104": "tab:blue", "conv-98-104": "tab:orange"}
variants = sorted({r["variant"] for r in runs}, key=lambda v: (v != "before", v))
for r in runs:
    h = r["history"]
    style = "--" if r["variant"] == "before" else "-"
    ax.plot([e["epoch"] for e in h], [e["test_error"] for e in h], style, color=colours.get(r["row"]),
            label=f"{r['row']} ({r['variant']}){'' if r['convergence']['converged'] else ', not converged'}")
ref = runs[0]["reference"]
ax.axhline(ref["chance_error"], color="k", lw=0.8, ls=":", label="chance")
ax.axhline(ref["single_frame_floor"], color="tab:red", lw=0.8, ls=":", label="single-frame floor")
ax.set(xlabel="epoch", ylabel="test video error", ylim=(0, 1), title="Demo calibration (seed 0)")
ax.legend(fontsize=7, loc="lower left")
fig.tight_layout()
dst.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(dst, dpi=120)
print(dst)
