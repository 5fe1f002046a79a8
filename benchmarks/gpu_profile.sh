#!/usr/bin/env bash
# The gpu profile's study in one lease of a GPU machine (issue 15 item 6): run from the
# repository root there, e.g. through the device tool, with the PyAV wheel carried in .whl/
# (the machine's image has torch, not PyAV). Trains under a deadline (DEADLINE seconds, so
# that the packing below always runs inside the call's limit) and packs every stored run
# into $OUT/results_gpu.tar.gz; the report is drawn afterwards on any machine:
#   tar xzf results_gpu.tar.gz && strn report --profile gpu
# PROFILE=smoke DEVICE=cpu JOBS=2 OUT=/tmp/o bash benchmarks/gpu_profile.sh   # the CPU check
set -u
PROFILE=${PROFILE:-gpu} DEVICE=${DEVICE:-cuda} JOBS=${JOBS:-10} DEADLINE=${DEADLINE:-520}
OUT=${OUT:-/tmp/gpu-profile-out} DATA=${DATA:-/tmp/strn-data} RESULTS=${RESULTS:-results/${PROFILE:-gpu}}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site || exit 3
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
PY=${PY:-python3}
if command -v nvidia-smi >/dev/null; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
    nvidia-smi dmon -s u -d 5 >"$OUT/dmon.txt" 2>&1 &  # GPU utilisation every 5 s: was the GPU the limit?
fi
timeout -k 20 -s INT "$DEADLINE" "$PY" benchmarks/gpu_profile.py --profile "$PROFILE" --device "$DEVICE" --jobs "$JOBS" \
    --results-dir "$RESULTS" --data-dir "$DATA" --log "$OUT/phases.json" >"$OUT/log.txt" 2>&1
rc=$?
tail -c 6000 "$OUT/log.txt"
# finished runs only (a run cut short stored nothing); no checkpoints, no executed notebooks
tar czf "$OUT/results_$PROFILE.tar.gz" --exclude=checkpoints --exclude=executed "$RESULTS" 2>/dev/null
echo "study exit status $rc (124: the deadline); $(tar tzf "$OUT/results_$PROFILE.tar.gz" | grep -c '\.json$') results files packed"
kill %1 2>/dev/null
exit 0
