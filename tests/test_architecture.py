"""strn.study.architecture: MAC counting, the unrolled plans and the diagrams' data (notebook 04)."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from strn.study import architecture as arch
from strn.report import plots
from strn.model import build_model


def test_mac_counter_matches_hand_computation():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    assert arch.count_macs(conv, torch.zeros(1, 3, 17, 17)) == 8 * 9 * 9 * 3 * 3 * 3  # 9x9 output
    grouped = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    assert arch.count_macs(grouped, torch.zeros(2, 4, 5, 5)) == 2 * 6 * 5 * 5 * 2 * 3 * 3
    lin = nn.Linear(10, 7)
    assert arch.count_macs(lin, torch.zeros(3, 10)) == 3 * 7 * 10
    total, per = arch.count_macs(nn.Sequential(conv, nn.ReLU()), torch.zeros(1, 3, 17, 17), per_module=True)
    assert per == {"0": total}


def test_resnet50_reference_count():
    macs, params = arch.resnet50_reference_macs()
    assert macs == 4_089_184_256  # 4.09 GMACs at 224 px, 1000 classes
    assert params == 25_557_032


def _flop_counter_macs(model, x):
    with FlopCounterMode(display=False) as fc:
        model.eval()
        with torch.no_grad():
            model(x)
    return fc.get_total_flops() // 2


@pytest.mark.parametrize("kw", [dict(seq_len=3), dict(seq_len=3, special3=True),
                                dict(seq_len=2, connection="conv", positions=["49-55"])])
def test_hook_count_agrees_with_torch_flop_counter_on_strn(kw):
    with torch.device("meta"):
        m = build_model("strn", num_classes=5, width=8, **kw)
    x = torch.zeros(1, kw["seq_len"], 3, 32, 32, device="meta")
    assert arch.count_macs(m, x) == _flop_counter_macs(m, x)


def test_meta_count_equals_real_count():
    m = build_model("strn", num_classes=4, seq_len=2, width=8)
    with torch.device("meta"):
        mm = build_model("strn", num_classes=4, seq_len=2, width=8)
    assert arch.count_macs(m, torch.zeros(1, 2, 3, 32, 32)) == arch.count_macs(
        mm, torch.zeros(1, 2, 3, 32, 32, device="meta"))


def test_cost_table_narrow():
    cfgs = [arch.CostConfig("plain", kind="frame", seq_len=1, width=8, px=32, num_classes=4),
            arch.CostConfig("none", positions=(), width=8, px=32, num_classes=4),
            arch.CostConfig("id", width=8, px=32, num_classes=4),
            arch.CostConfig("conv 5-11", connection="conv", positions=("5-11",), width=8, px=32, num_classes=4),
            arch.CostConfig("special3", seq_len=3, special3=True, width=8, px=32, num_classes=4)]
    df = arch.cost_table(cfgs).set_index("configuration")
    assert df.loc["none", "MACs"] == df.loc["plain", "MACs"]  # no connection: the plain net on one frame
    assert df.loc["none", "x plain"] == 1.0 and df.loc["none", "frames through stem"] == 1
    # identity at the last block: two frames through layer4.1, one through layer4.2, no parameter
    assert 1.5 < df.loc["id", "x plain"] < 2.0 and df.loc["id", "temporal params"] == 0
    assert df.loc["id", "params"] == df.loc["plain", "params"]
    # a connection at the first block means almost everything runs on one frame only
    assert df.loc["conv 5-11", "x plain"] < df.loc["id", "x plain"]
    assert df.loc["conv 5-11", "temporal params"] > 0
    # Special3 computes 2 of its 3 frames
    assert df.loc["special3", "frames through stem"] == 2
    assert df.loc["special3", "MACs"] == df.loc["id", "MACs"]


@pytest.mark.parametrize("T,special3", [(2, False), (3, False), (5, False), (3, True)])
def test_unrolled_layout_comes_from_the_plan(T, special3):
    with torch.device("meta"):
        m = build_model("strn", num_classes=4, seq_len=T, width=8, special3=special3)
    lay = arch.unrolled(m, T)
    assert lay["rows"][0] == "stem" and lay["rows"][-1] == "head" and len(lay["rows"]) == 18
    assert sorted({b for b, *_ in lay["temporal"]}) == sorted(c.block for c in m.connections)
    assert lay["computed"]["head"] == (T - 1,)
    assert lay["computed"]["layer4.2"] == (T - 1,)
    for block, src, dst, kind, delay in lay["temporal"]:
        assert dst - src == delay and dst in lay["computed"][block]
    if special3:
        assert all(1 not in steps for steps in lay["computed"].values())  # the middle frame is never computed
        assert lay["temporal"] == [("layer4.2", 0, 2, "identity", 2)]
    else:
        assert lay["computed"]["stem"] == tuple(range(T))
        assert len(lay["temporal"]) == sum(range(1, T))  # block k from the top sees k frames


def test_drawn_blocks_follow_the_modules():
    import matplotlib.pyplot as plt

    panels = arch.block_models(width=8, num_classes=4)
    drawn = [arch.block_diagram(m, name, title) for m, name, title in panels]
    fig = plots.architecture.blocks(drawn)  # drawn from the data alone: no model reaches the drawing
    assert len(fig.axes) == 3 and [a.get_title() for a in fig.axes] == [t for *_, t in panels]
    plt.close(fig)
    assert [k for _, k in drawn[0]["branch"]] == ["conv", "bn", "relu", "conv", "bn", "relu", "conv", "bn"]
    assert drawn[0]["temporal"] is None and drawn[0]["shortcut"] == "identity shortcut"
    assert drawn[1]["temporal"].startswith("R (identity)")
    assert "stride 2" in drawn[2]["temporal"] and drawn[2]["shortcut"].startswith("projection")
    assert drawn[2]["branch"][0][0] == "1x1 conv 128->64"  # width 8: layer4.0 takes 16*8 channels


def test_layer_frame_marks_the_thesis_positions():
    df = arch.layer_frame()
    assert len(df) == 106 and df.index[0] == 1 and df.index[-1] == 106
    marked = df[df["thesis position"] != ""]
    assert len(marked) == 28
    assert set(marked.loc[98:104, "thesis position"]) == {"98-104"}
    assert df.loc[98, "module"] == "layer4.1.bn3"  # the span starts at the layer feeding the shortcut
    assert set(df.loc[99:104, "block"]) == {"layer4.2"}
    assert df.loc[5, "module"] == "layer1.0.downsample" and df.loc[5, "thesis position"] == "5-11"
    assert df.loc[105, "module"] == "avgpool" and df.loc[106, "module"] == "fc"


def test_checks_pass_for_the_study_models():
    cfgs = [arch.CostConfig("ResNet-50, one frame", kind="frame", seq_len=1),
            arch.CostConfig("STRN T=2, no connection", positions=()),
            arch.CostConfig("STRN T=2, identity 98-104")]
    models = arch.study_models(width=8, num_classes=4)
    checks = arch.checks(arch.cost_table(cfgs), [(m, T, t) for t, (m, T) in models.items()])
    assert checks["passed"].all(), checks
