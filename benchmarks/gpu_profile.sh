#!/usr/bin/env bash
# The gpu profile's study in one lease of a GPU machine: run from the repository root there,
# through the device tool, with the PyAV wheel (and, for the report, papermill's) carried in
# .whl/ (the machine's image has torch, not PyAV). Trains under a deadline (DEADLINE seconds,
# so that the packing below always runs inside the call's limit) and packs every stored run,
# the report and its figures into $OUT/results_$PROFILE.tar.gz; the phases (phases.json), the
# levers (levers.json) and the engine's rate (gpu_engine.json) come back beside it.
#   FRESH=1 DEADLINE=540 JOBS=10 bash benchmarks/gpu_profile.sh    # the lease (benchmarks/README.md)
#   PROFILE=smoke DEVICE=cpu JOBS=2 OUT=/tmp/o bash benchmarks/gpu_profile.sh   # the CPU dry run
# FRESH=1 moves stored runs of the profile aside first (they may come from another stand-in);
# without it the script trains only what is missing, after checking the stand-in's digest.
# ARGS: more options of benchmarks/gpu_profile.py (e.g. "--tune", "--no-report").
set -u
PROFILE=${PROFILE:-gpu} DEVICE=${DEVICE:-cuda} JOBS=${JOBS:-10} DEADLINE=${DEADLINE:-540}
OUT=${OUT:-/tmp/gpu-profile-out} DATA=${DATA:-/tmp/strn-data} RESULTS=${RESULTS:-results/$PROFILE}
FIGURES=${FIGURES:-figures/$PROFILE} ARGS=${ARGS:-}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site || exit 3
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
PY=${PY:-python3}
if [ "${FRESH:-0}" = 1 ] && [ -d "$RESULTS" ]; then
    mv "$RESULTS" "$RESULTS.before-$(date +%s)"  # outside the pack: what comes back is this lease's alone
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
    nvidia-smi dmon -s u -d 5 >"$OUT/dmon.txt" 2>&1 &  # GPU utilisation every 5 s: was the GPU the limit?
fi
# shellcheck disable=SC2086 # ARGS is a list of options
timeout -k 20 -s INT "$DEADLINE" "$PY" benchmarks/gpu_profile.py --profile "$PROFILE" --device "$DEVICE" --jobs "$JOBS" \
    --results-dir "$RESULTS" --figures-dir "$FIGURES" --data-dir "$DATA" --log "$OUT/phases.json" \
    --levers-out "$OUT/levers.json" --engine-out "$OUT/gpu_engine.json" $ARGS >"$OUT/log.txt" 2>&1
rc=$?
tail -c 6000 "$OUT/log.txt"
# finished runs only (a run cut short stored nothing); no checkpoints, no executed notebooks
tar czf "$OUT/results_$PROFILE.tar.gz" --exclude=checkpoints --exclude=executed "$RESULTS" \
    $( [ -d "$FIGURES" ] && echo "$FIGURES" ) 2>/dev/null
echo "study exit status $rc (124: the deadline); $(tar tzf "$OUT/results_$PROFILE.tar.gz" | grep -c '\.json$') results files packed"
kill %1 2>/dev/null
exit 0
