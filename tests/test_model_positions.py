"""Thesis layer numbering <-> module names (strn.model.positions)."""

import pytest

from strn.model.backbone import build_backbone
from strn.model.positions import (
    BLOCK_NAMES,
    THESIS_POSITIONS,
    block_span,
    default_positions,
    layer_table,
    resolve_position,
    resolve_positions,
)


def test_table_has_106_rows_and_thesis_anchors():
    rows = layer_table()
    assert [r.index for r in rows] == list(range(1, 107))
    by_index = {r.index: r for r in rows}
    # taps of Table 5.1: block2 = 48th layer ends layer2, block3 = 85th ends layer3
    assert by_index[48].module == "layer2.3.bn3"
    assert by_index[85].module == "layer3.5.bn3"
    assert (by_index[105].module, by_index[105].kind) == ("avgpool", "pool")
    assert (by_index[106].module, by_index[106].kind) == ("fc", "fc")
    assert by_index[104].module == "layer4.2.bn3"
    assert {r.kind for r in rows} <= {"conv", "bn", "relu", "pool", "proj", "fc"}


def test_table_modules_exist_in_torchvision_resnet50():
    names = dict(build_backbone("resnet50", width=8).named_modules())
    for r in layer_table():
        assert r.module in names, r


@pytest.mark.parametrize("span,block", sorted(THESIS_POSITIONS.items()))
def test_thesis_spans(span, block):
    a, b = map(int, span.split("-"))
    assert block_span(block) == (a, b)
    assert resolve_position(span) == block
    assert resolve_position((a, b)) == block
    assert resolve_position(f"{a}\u2013{b}") == block  # en dash as printed in the thesis


@pytest.mark.parametrize("name", ["layer4.2", "layer4[2]", " layer1.0 ", "layer3.5"])
def test_module_names(name):
    assert resolve_position(name) == name.strip().replace("[", ".").rstrip("]")


@pytest.mark.parametrize("bad", ["layer5.0", "layer4.3", "97-104", (1, 2), "conv1", 7])
def test_bad_positions_list_valid_names(bad):
    with pytest.raises(ValueError, match="98-104") as e:
        resolve_position(bad)
    assert "layer4.2" in str(e.value)


def test_duplicates_rejected():
    with pytest.raises(ValueError, match="distinct"):
        resolve_positions(["98-104", "layer4.2"])


def test_default_positions():
    assert default_positions(1) == []
    assert default_positions(2) == ["layer4.2"]
    assert default_positions(3) == ["layer4.2", "layer4.1"]
    assert default_positions(5) == ["layer4.2", "layer4.1", "layer3.5", "layer3.4"]  # all identity-capable
    assert len(set(default_positions(13))) == 12 == len(BLOCK_NAMES) - 4  # every block but a stage's first
    with pytest.raises(ValueError):
        default_positions(0)
    with pytest.raises(ValueError):
        default_positions(14)
