"""Published numbers quoted by the thesis (Table 5.9): error rates on UCF-101, as facts."""

# (method, appearance stream, motion stream, final); None where the thesis gives "-".
TABLE_5_9 = [
    ("Improved Dense Trajectories [Wang & Schmid 13]", None, None, 0.141),
    ("Two Stream Architecture [Simonyan & Zisserman 14a]", 0.270, 0.163, 0.120),
    ("Two Stream Architecture (GoogLeNet) [Wang & Xiong+ 15]", 0.247, 0.142, 0.107),
    ("Two Stream Architecture (VGG-Net) [Wang & Xiong+ 15]", 0.216, 0.130, 0.086),
    ("Spatiotemporal ResNets [Feichtenhofer & Pinz+ 16]", 0.177, 0.209, 0.105),
    ("Spatio Temporal Residual Networks (thesis)", 0.198, None, 0.198),
]


def table_5_9(reproduced: float | None = None, label: str = "STRN, this reproduction"):
    """Table 5.9 as a DataFrame; with ``reproduced``, a last row for this run (appearance only)."""
    import pandas as pd  # local: the thesis's numbers are readable without pandas

    rows = [{"method": m, "appearance": a, "motion": mo, "final": f} for m, a, mo, f in TABLE_5_9]
    if reproduced is not None:
        rows.append({"method": label, "appearance": reproduced, "motion": None, "final": reproduced})
    return pd.DataFrame(rows)
