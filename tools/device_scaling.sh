#!/bin/bash
# Worker scaling on Pong on a many-core machine, in one call (the README's scaling table).
#
#   bash tools/device_scaling.sh            # writes machine.txt and bench.txt to $OUT (default /tmp/out)
#
# For the lent 16-core device machine, whose Python has numpy/numba/opencv/matplotlib/tqdm but not
# gymnasium or ale-py: those travel as cp312 wheels in .whl/ (see the device README), e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl gymnasium==1.4.0 ale-py==0.12.1 farama-notifications
# Elsewhere, with refasync installed, the wheel step is skipped.
set -o pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
{
    echo "cores: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    python3 -c "import sys, numpy, numba, gymnasium, ale_py; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__, 'gymnasium', gymnasium.__version__, 'ale-py', ale_py.__version__)"
} 2>&1 | tee "$OUT/machine.txt" || exit 1
# compile the Numba kernels once (they are cached), so that the start-up column is not compile time
for a in a3c nq; do
    timeout 120 python3 -m refasync.train --algo $a --env ALE/Pong-v5 --workers 1 --steps 2000 --no-progress \
        --eval-episodes 0 --out /tmp/warm-$a >/dev/null 2>&1
    echo "warm-up $a: exit $?" | tee -a "$OUT/machine.txt"
done
timeout "${BENCH_TIMEOUT:-430}" python3 tools/bench_train.py --env ALE/Pong-v5 --workers 1 2 4 8 16 \
    --seconds "${BENCH_SECONDS:-10}" 2>&1 | tee "$OUT/bench.txt"
