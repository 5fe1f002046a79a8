"""The still-image pretraining that stands in for ImageNet in the small profiles."""
import dataclasses

import torch

from strn.data import synth
from strn.train import pretrain
from strn.model.backbone import build_backbone, load_weights

TINY = pretrain.PretrainSpec(width=4, size=32, n_train=48, n_test=16, n_scenes=4, epochs=1, batch_size=16)


def test_labels_are_shape_by_size_and_never_motion(monkeypatch):
    classes = pretrain.pretrain_classes()
    assert len(classes) == len(synth.SHAPES) * len(pretrain.SIZE_BINS)
    assert not any(m in c for c in classes for m in synth.MOTIONS)
    # The stills never read the motion directions: generating them without any works.
    monkeypatch.setattr(synth, "MOTIONS", {})
    x, y = pretrain.make_stills(TINY, 200, 0)
    assert x.shape == (200, 3, 32, 32) and x.dtype == torch.uint8
    assert set(y.tolist()) == set(range(len(classes)))


def test_stills_are_deterministic_and_streams_differ():
    a, ya = pretrain.make_stills(TINY, 20, 0)
    b, yb = pretrain.make_stills(TINY, 20, 0)
    c, _ = pretrain.make_stills(TINY, 20, 1)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    d, _ = pretrain.make_stills(dataclasses.replace(TINY, seed=1), 20, 0)
    assert not torch.equal(a, d)


def test_training_is_deterministic():
    n1, m1 = pretrain.train_on_stills(TINY)
    n2, m2 = pretrain.train_on_stills(TINY)
    assert all(torch.equal(v, n2.state_dict()[k]) for k, v in n1.state_dict().items())
    assert m1["history"] == m2["history"]


def test_the_stand_in_does_not_depend_on_the_callers_thread_count():
    # Unpinned, TINY's weights differ at 1 and 3 threads (by ~1e-4 here; by up to 18 for the
    # demo's stand-in, which moves every demo number trained from it).
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        n1, m1 = pretrain.train_on_stills(TINY)
        assert torch.get_num_threads() == 1  # the caller's count is restored
        torch.set_num_threads(3)
        n3, m3 = pretrain.train_on_stills(TINY)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(old)
    assert all(torch.equal(v, n3.state_dict()[k]) for k, v in n1.state_dict().items())
    assert m1["threads"] == m3["threads"] == pretrain.PRETRAIN_THREADS


def test_a_cpu_stand_in_made_without_the_pinned_thread_count_is_made_again(tmp_path):
    path = pretrain.pretrained_backbone("smoke", tmp_path)
    obj = torch.load(path, weights_only=True)
    assert obj["key"].endswith(f":cpu{pretrain.PRETRAIN_THREADS}")
    # A file keyed otherwise (as version 2 keyed its files: by the spec alone, made with
    # whatever threads the caller had) is not trusted: it is trained again, pinned.
    torch.save(dict(obj, key=pretrain.pretrain_spec("smoke").digest(), model={}), path)
    pretrain.pretrained_backbone("smoke", tmp_path)
    again = torch.load(path, weights_only=True)
    assert again["key"] == obj["key"] and again["model"].keys() == obj["model"].keys()
    # One made on an accelerator (a lease's) is read by the CPU-side caller, not remade.
    torch.save(dict(obj, key=pretrain.pretrain_spec("smoke").digest() + ":cuda"), path)
    mtime = path.stat().st_mtime_ns
    pretrain.pretrained_backbone("smoke", tmp_path)
    assert path.stat().st_mtime_ns == mtime


def test_pretrained_backbone_beats_random_and_is_cached(tmp_path, monkeypatch):
    path = pretrain.pretrained_backbone("smoke", tmp_path)
    assert path.parent == tmp_path / "pretrained" and path.name.endswith(".pt")
    assert pretrain.checkpoint_name(pretrain.pretrain_spec("smoke")) == path.name
    meta = pretrain.load_meta(path)
    assert meta["version"] == pretrain.PRETRAIN_VERSION  # the file says which version made it
    spec = pretrain.pretrain_spec("smoke")
    x, y = pretrain.make_stills(spec, 384, 1)  # the held-out stills
    net = build_backbone(width=spec.width, num_classes=len(pretrain.pretrain_classes()))
    load_weights(net, str(path))
    acc = pretrain.evaluate_backbone(net, x, y)
    assert acc == meta["test_accuracy"]
    torch.manual_seed(123)
    rand = build_backbone(width=spec.width, num_classes=len(pretrain.pretrain_classes()))
    assert acc > pretrain.evaluate_backbone(rand, x, y) + 0.03
    # Reused, not retrained; loadable as a frozen feature extractor (fc of 8 skipped).
    monkeypatch.setattr(pretrain, "train_on_stills", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    mtime = path.stat().st_mtime_ns
    assert pretrain.pretrained_backbone("smoke", tmp_path) == path and path.stat().st_mtime_ns == mtime
    from strn.model.baselines import build_feature_extractor

    ext = build_feature_extractor(tap="block3", width=spec.width, weights=str(path))
    assert ext(torch.zeros(2, 3, 32, 32)).shape == (2, 16 * spec.width)


def test_full_profile_uses_imagenet_not_stills(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain, "imagenet_weights_path", lambda: str(tmp_path / "resnet50-0676ba61.pth"))
    assert pretrain.pretrained_backbone("full", tmp_path).name == "resnet50-0676ba61.pth"
    assert not (tmp_path / "pretrained").exists()


def test_position_bins_add_where_the_object_is_to_the_label():
    spec = dataclasses.replace(TINY, position_bins=3)
    classes = pretrain.pretrain_classes(spec)
    assert len(classes) == len(synth.SHAPES) * len(pretrain.SIZE_BINS) * 9
    x, y = pretrain.make_stills(spec, 300, 0)
    assert y.max() < len(classes) and len(set((y % 9).tolist())) == 9  # every cell is drawn
    # the shape-and-size part is the label of the plain task (same stream, same draws)
    _, y0 = pretrain.make_stills(TINY, 300, 0)
    assert torch.equal(y // 9, y0)
    assert spec.digest() != TINY.digest()


def test_see_through_stills_keep_the_label_and_change_the_pixels():
    spec = dataclasses.replace(TINY, opacity=(0.3, 0.6))
    x, y = pretrain.make_stills(spec, 40, 0)
    x0, y0 = pretrain.make_stills(TINY, 40, 0)
    assert not torch.equal(x, x0) and y.shape == y0.shape and spec.digest() != TINY.digest()
