"""Run the command line (`strn.cli.main`) with a SIGTERM sent to this process at one point of
its work, as a cluster's preemption lands wherever it lands; the fault-injection driver of
tests/test_reliability_sigterm_cli.py.

    python tests/_sigterm_cli.py POINT ARGS...

POINT: ``train`` (the first run's second optimiser step), ``final-eval`` (the first run's final
evaluation: smoke trains one epoch, so it is its only one), ``between`` (just after the first run
is stored or read back, before the next), ``writing`` (inside the write of the first record),
``none`` (no signal)."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _term() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _once(fn):
    """``fn`` on its first call only."""
    done = []

    def wrapped(*a, **k):
        if not done:
            done.append(1)
            return fn(*a, **k)
    return wrapped


def install(point: str) -> None:
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    import strn.study.experiments
    import strn.results
    import strn.train.fit

    if point == "train":
        steps = []

        def pre_step(*_):
            steps.append(1)
            if len(steps) == 2:
                _term()
        register_optimizer_step_pre_hook(pre_step)
    elif point == "final-eval":
        evaluate, first = strn.train.fit.evaluate, _once(_term)

        def hooked(*a, **k):
            first()  # the signal arrives while the evaluation runs
            return evaluate(*a, **k)
        strn.train.fit.evaluate = hooked
    elif point == "between":
        run, first = strn.study.experiments.run, _once(_term)

        def hooked(*a, **k):
            out = run(*a, **k)
            first()  # the first run is stored (or read back), the next not started
            return out
        strn.study.experiments.run = hooked
    elif point == "writing":
        save, fsync, first = strn.results.save_result, os.fsync, _once(lambda: True)

        def hooked(*a, **k):
            if first():
                os.fsync = lambda fd: (_term(), fsync(fd))  # inside the write, before the rename
            return save(*a, **k)
        strn.results.save_result = hooked
    elif point != "none":
        raise SystemExit(f"unknown point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    from strn.cli import main

    sys.exit(main(sys.argv[2:]))
