#!/usr/bin/env bash
# One prepared GPU check (issue 17): the `cuda` tests (tests/test_cuda.py)
# and the GPU benchmark, each step under its own timeout and continuing when
# one fails, within 8 minutes on one GPU. Writes
# docs/benchmarks/<gpu name>.json and copies it with the logs to $OUT when
# set. Without CUDA it records the machine, says so and exits 0.
#
#   tools/gpu_check.sh [--simulate-no-cuda | --dry-run-cpu] [--logs DIR]
#                      [--json-dir DIR] [--tests-timeout S] [--bench-timeout S]
#                      [--total S]
#
# The benchmark gets what the tests leave of --total (default 475 s), at
# least 60 s, unless --bench-timeout fixes it.
#
# --simulate-no-cuda: behave as without CUDA (records the machine, skips).
# --dry-run-cpu: run every step on the CPU instead (the tests with
#   INFMAE_TEST_DEVICE=cpu, a tiny fp32 benchmark) to try the script out on a
#   machine without a GPU; give it long timeouts.
#
# Environment: PYTHON (default python3); GPU_CHECK_PYTEST_ARGS (more pytest
# arguments, e.g. "-k amp" to rerun a part; "none" skips the tests);
# GPU_CHECK_BENCH_CASES (default pretrain,inference,peers; "none" skips the
# benchmark); GPU_CHECK_COMPILE (default 1: the pre-training rows also with
# model.loss under torch.compile; 0 skips them); GPU_CHECK_TRANSFER (an IRSTD
# data root in the SIRST-v2 layout: also run the transfer benchmark, step 3b).
# On a machine without the OpenMMLab hosts, install them first
# (docs/en/user_guides/gpu.md), e.g. from wheels:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD
set -u
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
LOGS=work_dirs/gpu_check
JSON_DIR=docs/benchmarks
TESTS_TIMEOUT=300
BENCH_TIMEOUT=
TOTAL=475
TEST_TIMEOUT=120  # per test (the training tests set 150 s themselves)
CASE_TIMEOUT=90   # per benchmark case
SIMULATE=()
BENCH_ARGS=(--device cuda --amp fp16 --batch 64 --sizes 224 --repeats 10)
[ "${GPU_CHECK_COMPILE:-1}" = 1 ] && BENCH_ARGS+=(--compile)

need() {  # need OPTION "$@": the option's value, or exit 2
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "gpu_check.sh: $1 needs a value" >&2; exit 2
    fi
}
usage() { sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --simulate-no-cuda) SIMULATE=(--simulate-no-cuda); shift ;;
        --dry-run-cpu)
            SIMULATE=(--dry-run-cpu)
            BENCH_ARGS=(--device cpu --amp none --batch 2 --sizes 64 --repeats 1)
            export INFMAE_TEST_DEVICE=cpu
            TEST_TIMEOUT=3600
            CASE_TIMEOUT=1800
            shift ;;
        --logs) need "$@"; LOGS=$2; shift 2 ;;
        --json-dir) need "$@"; JSON_DIR=$2; shift 2 ;;
        --tests-timeout) need "$@"; TESTS_TIMEOUT=$2; shift 2 ;;
        --bench-timeout) need "$@"; BENCH_TIMEOUT=$2; shift 2 ;;
        --total) need "$@"; TOTAL=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
for t in "$TESTS_TIMEOUT" "${BENCH_TIMEOUT:-0}" "$TOTAL"; do
    case "$t" in ''|*[!0-9]*) echo "gpu_check.sh: timeouts are whole seconds, got '$t'" >&2; exit 2 ;; esac
done
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
START=$(date +%s)

# 1. The machine; the mmcv op fallback where mmcv has no compiled ops.
timeout 120 "$PY" tools/gpu_check.py prepare --logs "$LOGS" "${SIMULATE[@]}"
PREP=$?
if [ "$PREP" -eq 3 ]; then
    "$PY" tools/gpu_check.py report --logs "$LOGS" "${SIMULATE[@]}" \
        --step prepare=0
    exit 0
fi

# 2. The cuda tests.
STEPS=(--step "prepare=$PREP")
if [ "${GPU_CHECK_PYTEST_ARGS:-}" != none ]; then
    echo "== cuda tests (timeout ${TESTS_TIMEOUT} s)"
    # SIGINT first: pytest stops and still writes its JUnit XML.
    timeout -s INT -k 15 "$TESTS_TIMEOUT" "$PY" -m pytest tests/test_cuda.py \
        -m cuda -p no:cacheprovider -q -rA --timeout "$TEST_TIMEOUT" \
        --junitxml="$LOGS/cuda_tests.xml" ${GPU_CHECK_PYTEST_ARGS:-} \
        >"$LOGS/cuda_tests.log" 2>&1
    RC=$?
    STEPS+=(--step "tests=$RC")
    tail -n 25 "$LOGS/cuda_tests.log"
fi

# 3. The GPU benchmark: AMP fp16, batch 64 (halved where memory runs out),
#    pre-training at 224, full-model inference with the peers.
CASES=${GPU_CHECK_BENCH_CASES:-pretrain,inference,peers}
if [ "$CASES" != none ]; then
    if [ -z "$BENCH_TIMEOUT" ]; then
        BENCH_TIMEOUT=$(( TOTAL - ($(date +%s) - START) - 10 ))
        [ "$BENCH_TIMEOUT" -lt 60 ] && BENCH_TIMEOUT=60
    fi
    echo "== GPU benchmark (timeout ${BENCH_TIMEOUT} s)"
    timeout -k 10 "$BENCH_TIMEOUT" "$PY" \
        tools/analysis_tools/benchmark_speed.py "${BENCH_ARGS[@]}" \
        --cases "$CASES" --budget-s $((BENCH_TIMEOUT - 25)) \
        --case-timeout-s "$CASE_TIMEOUT" --threads 8 \
        --out "$LOGS/benchmark.json" >"$LOGS/benchmark.log" 2>&1
    RC=$?
    STEPS+=(--step "bench=$RC")
    tail -n 5 "$LOGS/benchmark.log"
fi

# 3b. Optional: the transfer benchmark on real data (issue 21), when
#     GPU_CHECK_TRANSFER names an IRSTD set in the SIRST-v2 layout (e.g.
#     data/sirst-v2): the base arch pre-trained on its frames by every
#     method, probed and fine-tuned over 3 seeds, sized for about 10 minutes
#     on one H100. Its JSON and plot land in $LOGS/transfer/.
if [ -n "${GPU_CHECK_TRANSFER:-}" ]; then
    if [ ${#SIMULATE[@]} -gt 0 ] && [ "${SIMULATE[0]}" = --dry-run-cpu ]; then
        TRANSFER_ARGS=(--device cpu --arch nano --pretrain-epochs 1 --seeds 0
                       --probe-steps 5 --ft-iters 2)
    else
        TRANSFER_ARGS=(--device cuda --arch base --pretrain-epochs 40
                       --pretrain-crop 224 --pretrain-batch 64 --workers 8
                       --ft-iters 300 --ft-crop 256)
    fi
    echo "== transfer benchmark on $GPU_CHECK_TRANSFER (timeout 660 s)"
    timeout -k 10 660 "$PY" tools/analysis_tools/transfer_benchmark.py \
        --data-root "$GPU_CHECK_TRANSFER" --work-dir "$LOGS/transfer" \
        "${TRANSFER_ARGS[@]}" >"$LOGS/transfer.log" 2>&1
    RC=$?
    STEPS+=(--step "transfer=$RC")
    tail -n 20 "$LOGS/transfer.log"
fi

# 4. The report: docs/benchmarks/<gpu name>.json, and $OUT.
"$PY" tools/gpu_check.py report --logs "$LOGS" --json-dir "$JSON_DIR" \
    "${SIMULATE[@]}" "${STEPS[@]}"
echo "gpu_check.sh: $(( $(date +%s) - START )) s"
exit 0
