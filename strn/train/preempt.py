"""SIGTERM (a cluster's preemption) never lost: training checkpoints and exits 143; outside
training, a command that trains several runs in one process ends at once with 143.

Inside `strn.train.engine.fit_source` (one model or a stacked job) the handler only sets
``preempted``: the loop checkpoints at the next micro-batch, and the flag is checked again
after the final evaluation, so a SIGTERM there ends the process too (the finished checkpoint is on disk; the
rerun evaluates it again and writes the record). Between runs (`exit_between_runs`, installed
by `strn run`) nothing is in progress, so the process ends at once; a results file being
written then is left whole or absent (atomic rename), never torn.
"""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

# Set by the SIGTERM handler that ``fit`` installs: training checkpoints at the next micro-batch
# and exits; the handler itself only sets the flag, so the state stays whole.
preempted = threading.Event()
PREEMPT_EXIT = 143  # 128 + SIGTERM, what schedulers expect of a process ended by SIGTERM


class Preempted(Exception):
    """Raised inside training after the SIGTERM checkpoint is written; ``fit`` turns it into the exit."""


def preempt_exit(checkpoint: Path | None) -> None:
    where = f"checkpoint written to {checkpoint}; rerun the same command to resume" if checkpoint is not None \
        else "no checkpoint path was given, so nothing was saved"
    print(f"strn: terminated (SIGTERM): {where}", file=sys.stderr)
    raise SystemExit(PREEMPT_EXIT)


def _between_runs(*_) -> None:
    print("strn: terminated (SIGTERM) between runs: every finished run is stored; rerun the same command to go on",
          file=sys.stderr)
    raise SystemExit(PREEMPT_EXIT)


def exit_between_runs() -> None:
    """Make SIGTERM outside training end this process with 143 (`strn run`: several rows in one
    process). Training installs its own handler and puts this one back after."""
    preempted.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _between_runs)
