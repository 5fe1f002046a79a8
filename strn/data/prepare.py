"""A run's data: the folder it reads (the profile's synthetic set, made on first use, or
UCF-101) and its split indexed into train and test sequence datasets over the frame cache.
Every runner calls `prepare`; it holds no model and trains nothing."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..paths import default_data_dir
from .cache import FrameCache
from .datasets import SequenceDataset
from .synth_files import ensure_synthetic
from .ucf101 import VAL_SPLIT_SEED, group_val_split, read_split, read_train_split


def dataset_root(cfg: RunConfig, data_dir: str | Path | None = None) -> Path:
    """The folder in UCF-101 layout this run reads: the built-in synthetic set of the
    profile (written on first use), or the UCF-101 folder named by ``data.root``."""
    if cfg.data.root:
        root = Path(cfg.data.root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"dataset folder {root} does not exist; set data.root to your UCF-101 folder "
                                    f"(the one holding UCF-101/ and ucfTrainTestlist/)")
        return root
    data_dir = Path(data_dir or default_data_dir())
    if cfg.data.dataset == "ucf101":
        root = data_dir / "UCF101"
        if not root.exists():
            raise FileNotFoundError(f"UCF-101 was not found at {root}: unpack UCF101.rar and the split lists "
                                    f"there, set $STRN_DATA_DIR to the folder holding UCF101/, or set data.root")
        return root
    return ensure_synthetic(cfg.profile, data_dir)


@dataclass
class Prepared:
    index: Any  # strn.data.ucf101.SplitIndex
    train: Any  # SequenceDataset of the training subset
    test: Any  # SequenceDataset of the test subset
    classes: list[str]


@lru_cache(maxsize=8)
def _prepare_cached(root: str, split: int, rate: int, seq_len: int, size: int, val_fraction: float, seed: int,
                    on_bad_video: str, cache_dir: str, progress: bool | None, workers: int = 0,
                    cache_codec: str = "raw", eval_subset: str = "test") -> Prepared:
    if eval_subset == "val":  # evaluated on held-out training groups: the test list is never read
        index = group_val_split(read_train_split(root, split), val_fraction, VAL_SPLIT_SEED)
    else:
        index = read_split(root, split)
        if val_fraction > 0:
            index = group_val_split(index, val_fraction, seed)
    cache = FrameCache(cache_dir, codec=cache_codec)
    # A first run decodes every video: with loader workers configured, as many processes share it.
    cache.fill([index.videos_dir / e.path for e in index.subset("train") + index.subset(eval_subset)], rate, size,
               workers=workers, progress=progress is not False)
    # Crops are taken in the training loop (seeded per micro-batch): the datasets return whole resized frames.
    kw = dict(rate=rate, seq_len=seq_len, size=size, cache=cache, on_bad_video=on_bad_video,
              progress=progress is not False)  # no indexing bars where the caller asked for none
    train = SequenceDataset(index, "train", **kw)
    test = SequenceDataset(index, eval_subset, **kw)  # what the run is evaluated on: test, or validation
    return Prepared(index, train, test, list(index.classes))


def prepare(cfg: RunConfig, data_dir: str | Path | None = None, progress: bool | None = None) -> Prepared:
    """Index the split and build the train/test sequence datasets (frames cached on disk)."""
    data_dir = Path(data_dir or default_data_dir())
    root = dataset_root(cfg, data_dir)
    d = cfg.data
    return _prepare_cached(str(root), d.split, d.rate, d.seq_len, d.size, d.val_fraction, cfg.train.seed,
                           d.on_bad_video, str(data_dir / "cache"), progress, d.num_workers, d.cache_codec,
                           d.eval_subset)
