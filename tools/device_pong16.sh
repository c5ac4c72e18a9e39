#!/bin/bash
# Issue 19 on a lent many-core machine, in one call: where the time goes with 16 workers, the
# update's memory traffic, the env-only ceiling, then the default command on Pong until
# mean-100 >= +18 or TRAIN_MINUTES of training.  A second call on the still-warm machine
# continues the same run folder (--resume).
#
#   bash tools/device_pong16.sh               # first call  (device: timeout_s 590)
#   RESUME=1 TRAIN_MINUTES=12 bash tools/device_pong16.sh   # second call: TRAIN_MINUTES is the
#                                             # run's TOTAL training time (a resumed run's clock carries on)
#
# Writes to $OUT (default /tmp/out), at most 8 files as the device returns them:
#   machine.txt  cores, CPU, versions
#   ceiling.json the env-only rate of N processes (tools/bench_train.py --ceiling-json), same call
#   update.txt   python tools/bench_update.py  (counted and measured traffic of the update's passes)
#   profile.txt  python tools/profile_worker.py with N workers (the preset's t_max for N)
#   train.log    the training command's output
#   record.tar.gz config.json episodes.csv progress.csv summary.json learning_curve.png of the run
# Unpack the record into docs/results/pong-a3c-16core/ with ceiling.json beside it.
#
# gymnasium and ale-py travel as cp312 wheels in .whl/ (see tools/device_scaling.sh).
# Time plan of the first call (16 cores): wheels and warm-up ~1.5 min, ceiling 15 s,
# update traffic ~1.5 min (5 variants, with ADDITION 16's subnormal-g pair), profile ~1 min,
# training TRAIN_MINUTES (default 4.5).
set -o pipefail
OUT=${OUT:-/tmp/out}
RUN=${RUN:-runs/pong-a3c-16core}
N=${WORKERS:-$(nproc)}
TRAIN_MINUTES=${TRAIN_MINUTES:-4.5}
mkdir -p "$OUT" runs
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1

pack() {
    tar czf "$OUT/record.tar.gz" -C "$RUN" $(cd "$RUN" && ls config.json episodes.csv progress.csv summary.json learning_curve.png 2>/dev/null)
}

if [ -z "$RESUME" ]; then
    {
        echo "cores: $(nproc); workers: $N; $(date -u +%FT%TZ)"
        grep -m1 'model name' /proc/cpuinfo
        python3 -c "import sys, numpy, numba, gymnasium, ale_py; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'gymnasium', gymnasium.__version__, 'ale-py', ale_py.__version__)"
        git rev-parse --short HEAD 2>/dev/null
    } 2>&1 | tee "$OUT/machine.txt" || exit 1
    # compile the Numba kernels once (cached): start-up and the profile then measure no compilation
    timeout 150 python3 -m refasync.train --algo a3c --env ALE/Pong-v5 --workers 1 --steps 2000 --no-progress \
        --eval-episodes 0 --out /tmp/warm-a3c >/dev/null 2>&1
    echo "warm-up: exit $?" | tee -a "$OUT/machine.txt"
    timeout 60 python3 tools/bench_train.py --ceiling-json "$OUT/ceiling.json" --workers "$N" --seconds 10 || exit 1
    UW=1; [ $((N / 4)) -gt 1 ] && UW="$UW $((N / 4))"; [ "$N" -gt 1 ] && UW="$UW $N"
    timeout 200 python3 tools/bench_update.py --workers $UW --seconds 2 --rounds 1 2>&1 | tee "$OUT/update.txt"
    timeout 120 python3 tools/profile_worker.py --workers "$N" --seconds 10 --warmup 5 2>&1 | tee "$OUT/profile.txt"
    cmd=(python3 -m refasync.train --algo a3c --env ALE/Pong-v5 --seed 0 --no-progress --out "$RUN")
else
    cmd=(python3 -m refasync.train --resume "$RUN" --no-progress)
fi
# the run's own clock: --minutes counts training time, which a resumed run carries on
python3 tools/run_until.py --mean100 18 --minutes "$TRAIN_MINUTES" -- "${cmd[@]}" 2>&1 | tee -a "$OUT/train.log"
pack
python3 -c "import json; s = json.load(open('$RUN/summary.json')); print({k: s[k] for k in ('frames', 'wall_s', 'steps_per_s', 'mean_return_100', 'best_mean_return_100')})" | tee -a "$OUT/train.log"
