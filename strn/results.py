"""Results files: one JSON per run (STUDY §6), written atomically, read back by config hash."""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator

import numpy as np

from .config import ConfigError, RunConfig, config_from_dict, config_hash
from .storage import write_error

SCHEMA_VERSION = 1
SUMMARY_DIR = "summaries"  # <results_dir>/summaries/<notebook>.json: numbers of notebooks that train nothing
LEASE_DIR = "lease"  # <results_dir>/lease/: a GPU lease's own logs (benchmarks/gpu_profile.sh's phases.json), no runs

REQUIRED_KEYS = ("schema_version", "experiment", "table", "config", "config_hash", "profile", "dataset", "split",
                 "seed", "metrics", "cost", "thesis", "skipped_videos", "env")
REQUIRED_METRICS = ("error_rate", "accuracy", "mean_class_accuracy", "per_class_accuracy", "clip_accuracy", "history")


def _umask_mode() -> int:
    """0666 less the process umask: what ``open`` would give; mkstemp alone gives 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it onto ``path``: a
    crash at any moment leaves the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, e) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (synced to disk before the rename)."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return _atomic(path, write)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` atomically (checkpoints, weights, features): a process killed while
    writing leaves the previous file intact."""
    import torch  # local: results files are read (report, summary) without torch

    return _atomic(path, lambda tmp: torch.save(obj, tmp))


def result_path(results_dir: str | Path, cfg: RunConfig) -> Path:
    """``<results_dir>/<experiment>/<name>__seed<k>.json``: one file per configuration and seed;
    a control run's beside it as ``<name>__seed<k>__control-<control>.json``."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", cfg.experiment) or ".." in cfg.experiment:
        raise ValueError(f"experiment {cfg.experiment!r} is not a plain folder name (letters, digits, _ . -): "
                         f"results and checkpoints stay inside their results folder")
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in cfg.name)
    control = f"__control-{cfg.control}" if cfg.control else ""
    return Path(results_dir) / cfg.experiment / f"{slug}__seed{cfg.train.seed}{control}.json"


def table_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records a table, a figure or a summary shows: every run but the control runs
    (``control`` set, e.g. "schedule-length"), which only the claims' robustness check reads."""
    return [r for r in records if not r.get("control")]


def control_records(records: Iterable[dict[str, Any]], control: str = "schedule-length") -> list[dict[str, Any]]:
    """The control runs of kind ``control`` among ``records``."""
    return [r for r in records if r.get("control") == control]


class InvalidResult(ValueError):
    """A results file that cannot be a run's record (unreadable, or failing `problems`)."""


INVALID_SUFFIX = ".invalid"  # <name>.json.invalid: a results file set aside, never read as a run again


def problems(data: Any) -> list[str]:
    """Why ``data`` is not a valid run record (empty: valid); the same checks on write and on read.
    A record without ``provenance`` (older code) is valid but never reused (`strn.train.provenance`)."""
    if not isinstance(data, dict):
        return [f"a JSON {type(data).__name__}, not a record"]
    out = [f"lacks key {k!r}" for k in REQUIRED_KEYS if k not in data]
    m = data.get("metrics")
    if not isinstance(m, dict):
        return out + ["metrics is not a mapping"]
    out += [f"lacks metrics.{k}" for k in REQUIRED_METRICS if k not in m]
    for k in ("error_rate", "accuracy", "mean_class_accuracy"):
        v = m.get(k)
        if k in m and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           and 0 <= v <= 1):
            out.append(f"metrics.{k} = {v!r} (a number in [0, 1])")
    if isinstance(data.get("config"), dict) and "config_hash" in data:
        try:
            h = config_hash(config_from_dict(data["config"]))
        except (ConfigError, TypeError, ValueError) as e:
            out.append(f"config does not load ({e})")
        else:
            if h != data["config_hash"]:
                out.append(f"config_hash {data['config_hash']} is not its config's ({h})")
    elif "config" in data:
        out.append("config is not a mapping")
    prov = data.get("provenance")
    if prov is not None and not (isinstance(prov, dict) and
                                 {"synth_generator_version", "pretrain_version", "init_digest"} <= set(prov)):
        out.append("provenance lacks synth_generator_version, pretrain_version or init_digest")
    return out


def load_result(path: str | Path) -> dict[str, Any]:
    """The record at ``path``; `InvalidResult` (a ValueError) naming the file and why, when it is
    unreadable or not a valid record."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise InvalidResult(f"{path} cannot be read ({e.strerror or e})") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidResult(f"{path} is not valid JSON ({e}); delete it to recompute the run") from e
    bad = problems(data)
    if bad:
        raise InvalidResult(f"{path} is not a valid results record: {'; '.join(bad)}; delete it to recompute the run")
    return data


def set_aside(path: str | Path, why: str) -> Path | None:
    """Rename an invalid results file to ``<name>.invalid`` (never read again, listed by
    `strn summary`) and say so in one line; None where it cannot be renamed (a read-only folder)."""
    path = Path(path)
    target = path.with_name(path.name + INVALID_SUFFIX)
    try:
        os.replace(path, target)
    except OSError as e:
        print(f"strn: ignored {path}: {why} (could not set it aside: {e.strerror or e})", file=sys.stderr)
        return None
    print(f"strn: set aside {path} as {target.name}: {why}", file=sys.stderr)
    return target


def read_result(path: str | Path) -> dict[str, Any] | None:
    """The valid record at ``path``, or None: an unreadable or invalid file is named and set aside,
    so it is never reused and never stops another run."""
    try:
        return load_result(path)
    except InvalidResult as e:
        set_aside(path, str(e).split(" ", 1)[1] if " " in str(e) else str(e))
        return None


def set_aside_files(results_dir: str | Path) -> list[Path]:
    """The results files set aside under ``results_dir`` (``*.json.invalid``)."""
    return sorted(Path(results_dir).rglob(f"*.json{INVALID_SUFFIX}"))


def save_result(results_dir: str | Path, cfg: RunConfig, record: dict[str, Any]) -> Path:
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"results record lacks keys {missing}")
    bad = problems(json.loads(json.dumps(record, default=_jsonable)))  # as it will be read back
    if bad:
        raise ValueError(f"results record of {cfg.experiment}/{cfg.name} is not valid: {'; '.join(bad)}")
    return atomic_write_text(result_path(results_dir, cfg), json.dumps(record, indent=1, sort_keys=True) + "\n")


def load_results(results_dir: str | Path, experiment: str | None = None) -> list[dict[str, Any]]:
    """Every valid results JSON under ``results_dir`` (of one experiment when given); an invalid
    one is named and set aside (`read_result`), never shown as a result."""
    base = Path(results_dir) / experiment if experiment else Path(results_dir)
    records = [read_result(p) for p in sorted(base.rglob("*.json"))
               if not {"executed", SUMMARY_DIR, LEASE_DIR} & set(p.relative_to(base).parts)]
    return [r for r in records if r is not None]


def write_summary(results_dir: str | Path, experiment: str, profile: str, data: dict[str, Any]) -> Path:
    """Write a notebook's computed numbers (no training run) to
    ``<results_dir>/summaries/<experiment>.json``, atomically.

    Kept apart from ``<results_dir>/<experiment>/`` because the training-run loaders
    (``strn.results.load_results``) expect every JSON there to be a full run record.
    """
    record = {"schema_version": SCHEMA_VERSION, "kind": "summary", "experiment": experiment, "profile": profile,
              "env": environment(), **data}
    path = Path(results_dir) / SUMMARY_DIR / f"{experiment}.json"
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _git(*args: str) -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def environment(device: Any = None) -> dict[str, Any]:
    """Versions, device and git state, for the ``env`` key."""
    import torch  # local (both): results files are read (report, summary) without torch
    import torchvision  # only for its version string in the environment record

    try:
        import av  # local: as torch, and optional here (None when missing)

        av_version = av.__version__
    except ImportError:  # pragma: no cover - av is a dependency
        av_version = None
    dev = str(device) if device is not None else "cpu"
    name = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") else platform.processor() or platform.machine()
    commit = _git("rev-parse", "HEAD")
    # Dirty means the code differs from the commit: the run's own outputs (results/,
    # figures/, being rewritten by this very study) do not count.
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude)results", ":(exclude)figures")
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "av": av_version,
        "device": dev,
        "device_name": name,
        "cpu_threads": torch.get_num_threads(),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
    }


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    vals = [float(v) for v in values]
    if not vals:
        return float("nan"), float("nan")
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return m, 0.0
    var = sum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, var ** 0.5


def cached(path: str | Path, key: str, compute: Callable[[], dict[str, Any]], *, force: bool = False,
           also: Collection[str] = ()) -> dict[str, Any]:
    """Cache-or-compute for torch files (features, pretrained and finetuned weights): the dict
    stored at ``path`` when its ``"key"`` is ``key`` (or one of ``also``); otherwise
    ``compute()``, stored there with ``key`` (atomically, so a killed process leaves no torn
    file) and returned. An unreadable or stale file, or ``force``, computes again."""
    import torch  # local: results files are read (report, summary) without torch

    path = Path(path)

    def stored() -> dict[str, Any] | None:
        if path.is_file() and not force:
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(obj, dict) and (obj.get("key") == key or obj.get("key") in also):
                    return obj
            except Exception:  # noqa: BLE001 - torch raises many kinds here; unreadable means compute again
                pass
        return None

    obj = stored()
    if obj is not None:
        return obj
    # One writer: a second process waits here, then reads what the first one made.
    with file_lock(path.with_name(path.name + ".lock")):
        obj = stored()
        if obj is None:
            obj = dict(compute(), key=key)
            atomic_torch_save(obj, path)
    return obj


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """An exclusive lock on the file ``path`` (made beside what it guards): one process at a time
    prepares a shared thing (stand-in, features, a run's training); released when the process
    ends, even by SIGKILL."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
