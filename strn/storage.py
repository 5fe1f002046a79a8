"""Fail before the work: probe a folder for writing and for free space before any data is
decoded, and turn a failed write into an error that names the path and the cause (issue #14)."""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

# A checkpoint holds the weights, Adam's two moments and (mid-step) the gradients: ~3-4x the
# parameter bytes. 4x leaves room for the temporary file written before the atomic rename.
CHECKPOINT_FACTOR = 4


def checkpoint_bytes(model) -> int:
    """The expected size of a training checkpoint of ``model`` (bytes)."""
    return CHECKPOINT_FACTOR * sum(p.numel() * p.element_size() for p in model.parameters())


def probe_writable(folder: str | Path, what: str, need_bytes: int = 0) -> Path:
    """Create ``folder``, write and remove a small file there, and check ``need_bytes`` are free;
    ``OSError`` naming the folder, the cause and the fix otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".strn-probe.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OSError(e.errno, f"cannot write to the {what} {folder}: {e.strerror or e}; "
                               f"pick a writable folder (--results-dir) or fix its permissions") from e
    if need_bytes:
        free = shutil.disk_usage(folder).free
        if free < need_bytes:
            raise OSError(errno.ENOSPC, f"no space left on device for the {what} {folder}: {free / 2**20:.0f} MiB "
                                        f"free, a checkpoint needs about {need_bytes / 2**20:.0f} MiB; free space or "
                                        f"pick another results folder")
    return folder


def write_error(path: str | Path, e: BaseException) -> OSError:
    """A failed write as one ``OSError`` naming ``path`` and the cause (torch reports a full disk
    as ``RuntimeError: ... iostream error``, without the word 'space')."""
    path = Path(path)
    code = getattr(e, "errno", None)
    if code is None:
        try:
            code = errno.ENOSPC if shutil.disk_usage(path.parent).free == 0 else None
        except OSError:
            code = None
    if code == errno.ENOSPC:
        return OSError(errno.ENOSPC, f"no space left on device writing {path}; free space or pick another folder")
    cause = getattr(e, "strerror", None) or (str(e).splitlines()[0] if str(e) else type(e).__name__)
    return OSError(code or errno.EIO, f"could not write {path}: {cause}")
