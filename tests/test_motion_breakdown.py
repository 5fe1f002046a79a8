"""Accuracy by kind of motion (strn/study/motion_breakdown.py): the evidence notebooks 05.3-05.7 show."""
import pytest

from strn.study.motion_breakdown import accuracy_by_motion, motion_kind


def _rec(name, seed, acc, converged=True):
    return {"name": name, "seed": seed, "metrics": {"per_class_accuracy": acc, "converged": converged}}


def test_motion_kind_of_synthetic_class_names():
    assert motion_kind("CircleFadeIn") == "fades"
    assert motion_kind("TriangleMoveLeft") == "moves"
    assert motion_kind("CrossShrink") == "size changes"
    assert motion_kind("ApplyEyeMakeup") is None and motion_kind("Circle") is None


def test_accuracy_by_motion_averages_classes_then_seeds():
    acc0 = {"CircleMoveLeft": 1.0, "CircleMoveRight": 0.8, "CircleFadeIn": 0.5, "CircleFadeOut": 0.3}
    acc1 = {"CircleMoveLeft": 0.6, "CircleMoveRight": 0.6, "CircleFadeIn": 0.5, "CircleFadeOut": 0.5}
    frame = accuracy_by_motion([_rec("identity", 0, acc0), _rec("identity", 1, acc1, converged=False),
                                _rec("conv", 0, acc1)])
    assert list(frame.index) == ["identity", "conv"]
    # identity: moves 0.9 and 0.6 -> 0.750 ± 0.212; fades 0.4 and 0.5 -> 0.450 ± 0.071
    assert frame.loc["identity", "accuracy on moves"] == "0.750 ± 0.212"
    assert frame.loc["identity", "accuracy on fades"] == "0.450 ± 0.071"
    assert frame.loc["identity", "converged"] == "1 of 2" and frame.loc["conv", "seeds"] == 1
    assert list(frame.columns) == ["accuracy on moves", "accuracy on fades", "seeds", "converged"]


@pytest.mark.parametrize("records", [[], [_rec("ucf", 0, {"ApplyEyeMakeup": 0.5, "Archery": 0.7})]])
def test_no_breakdown_without_synthetic_classes(records):
    assert accuracy_by_motion(records) is None
