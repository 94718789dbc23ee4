#!/usr/bin/env bash
# Fuzzing benchmark (not run by CI): runs every cargo-fuzz target in fuzz/ for a share of a
# total number of executions (default 10^8, split evenly: ceil(total / targets) each), then
# writes a Markdown table (target, executions, exec/s, wall time, result) to
# target/fuzz-bench.md and prints the total.
#
#   bash fuzz/bench.sh [TOTAL]                # e.g. nice -n 19 bash fuzz/bench.sh 100000000
#
# Environment:
#   FUZZ_BENCH_TOTAL     total executions over all targets (default 100000000; the argument wins)
#   FUZZ_BENCH_MAX_TIME  per-run cap in seconds (libFuzzer -max_total_time), a safety valve;
#                        default none. A target stopped by it does fewer executions than its
#                        share; the targets that were not stopped then make up the difference
#                        in proportion to their exec/s (up to 3 top-up rounds, each run capped
#                        too), so the total is still met if they are fast enough. The table
#                        shows each target's own count.
#   FUZZ_BENCH_TARGETS   space-separated subset of targets (default: `cargo fuzz list`)
#   FUZZ_BENCH_CORPUS    corpus root (default target/fuzz-corpus, the one .ci/fuzz keeps and
#                        fuzz/replay32/run.sh replays); libFuzzer writes new inputs into
#                        <root>/<target>/ and only reads the committed fuzz/seeds/<target>/.
#
# Built like .ci/fuzz: nightly (cargo +nightly fuzz), --debug-assertions, AddressSanitizer,
# -rss_limit_mb=2048 -timeout=60. Crashing inputs go to target/fuzz-artifacts/<target>/, each
# target's full libFuzzer output to target/fuzz-bench-logs/<target>.log.
# Exits non-zero if a target fails to build or crashes (or hangs past -timeout, or runs out of
# memory), or if fewer executions than the requested total were done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TOTAL=${1:-${FUZZ_BENCH_TOTAL:-100000000}}
MAX_TIME=${FUZZ_BENCH_MAX_TIME:-}
CORPUS_ROOT=${FUZZ_BENCH_CORPUS:-$ROOT/target/fuzz-corpus}
ARTIFACTS_ROOT=$ROOT/target/fuzz-artifacts
LOG_DIR=$ROOT/target/fuzz-bench-logs
OUT=$ROOT/target/fuzz-bench.md

case "$TOTAL" in '' | *[!0-9]*) echo "fuzz-bench: total must be a positive integer, got '$TOTAL'" >&2; exit 2 ;; esac
[ "$TOTAL" -gt 0 ] || { echo "fuzz-bench: total must be positive" >&2; exit 2; }
case "$MAX_TIME" in *[!0-9]*) echo "fuzz-bench: FUZZ_BENCH_MAX_TIME must be whole seconds, got '$MAX_TIME'" >&2; exit 2 ;; esac

# A benchmark asked for explicitly: unlike .ci/fuzz, a missing tool is an error, not a skip.
# Never downloads a toolchain: nightly is used only once rustup shows it installed.
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz-bench: needs an installed nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-bench: needs cargo-fuzz (cargo +nightly install --locked cargo-fuzz)" >&2
  exit 2
fi

if [ -n "${FUZZ_BENCH_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$FUZZ_BENCH_TARGETS"
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
[ ${#TARGETS[@]} -gt 0 ] || { echo "fuzz-bench: no targets found in fuzz/" >&2; exit 1; }
PER_TARGET=$(((TOTAL + ${#TARGETS[@]} - 1) / ${#TARGETS[@]}))

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
started=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "fuzz-bench: $(cargo +nightly fuzz --version), $(rustc +nightly --version)"
echo "fuzz-bench: commit $commit, ${#TARGETS[@]} targets x $PER_TARGET runs (total >= $TOTAL)${MAX_TIME:+, at most ${MAX_TIME}s per target}"

# Build everything first, with the same flags as the runs below, so no target's time includes
# compiling.
cargo +nightly fuzz build --debug-assertions

mkdir -p "$LOG_DIR" "$ARTIFACTS_ROOT"
declare -A RUNS=() SECS=() FUZZSECS=() RESULT=() CAPPED=() RATE=()
crashed=()
sum=0

# run_pass TARGET RUNS LOG: one `cargo fuzz run` of TARGET for at most RUNS executions (and
# MAX_TIME seconds); adds what it did to the target's totals.
run_pass() {
  local t=$1 want=$2 log=$3
  local corpus="$CORPUS_ROOT/$t" artifacts="$ARTIFACTS_ROOT/$t"
  mkdir -p "$corpus" "$artifacts"
  local dirs=("$corpus")
  if [ -d "fuzz/seeds/$t" ]; then dirs+=("fuzz/seeds/$t"); fi
  local args=(-runs="$want" -print_final_stats=1 -rss_limit_mb=2048 -timeout=60
    -artifact_prefix="$artifacts/")
  if [ -n "$MAX_TIME" ]; then args+=(-max_total_time="$MAX_TIME"); fi

  echo "fuzz-bench: $t: $want runs, started $(date -u '+%H:%M:%S UTC')"
  local t0 rc secs runs rate written kind result
  t0=$(date +%s)
  if cargo +nightly fuzz run --debug-assertions "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1; then
    rc=0
  else
    rc=$?
  fi
  secs=$(($(date +%s) - t0))

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  # Without final stats (killed from outside), fall back to the last status line "#N ...".
  [ -n "$runs" ] || runs=$(grep -Eo '^#[0-9]+' "$log" | tail -n1 | tr -d '#' || true)
  runs=${runs:-0}
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  # libFuzzer reports 0 for a run under a second.
  if [ -z "$rate" ] || { [ "$rate" -eq 0 ] && [ "$secs" -gt 0 ]; }; then
    rate=$((secs > 0 ? runs / secs : 0))
  fi
  written=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)

  if [ "$rc" -eq 0 ]; then
    if [ "$runs" -ge "$want" ]; then
      result=ok
    else
      result="ok, stopped by the ${MAX_TIME}s cap"
      CAPPED[$t]=1
    fi
  else
    # What libFuzzer says it found: deadly-signal (a Rust panic aborts), timeout,
    # out-of-memory, or an AddressSanitizer report.
    kind=$(grep -Eo 'SUMMARY: (libFuzzer|AddressSanitizer): [A-Za-z-]+' "$log" | tail -n1 | awk '{print $3}' || true)
    if [ -n "$kind" ]; then
      result="CRASH ($kind)${written:+: $written}"
    else
      result="FAILED (exit $rc, see $log)"
    fi
    crashed+=("$t")
    echo "fuzz-bench: $t: $result; last lines of $log:" >&2
    tail -n 60 "$log" >&2
  fi
  RUNS[$t]=$((${RUNS[$t]:-0} + runs))
  SECS[$t]=$((${SECS[$t]:-0} + secs))
  # Time spent executing inputs, as libFuzzer counts it (for the combined exec/s).
  FUZZSECS[$t]=$(awk -v n="$runs" -v r="$rate" -v s="${FUZZSECS[$t]:-0}" \
    'BEGIN { printf "%.3f", s + (r > 0 ? n / r : 0) }')
  RATE[$t]=$rate
  if [ -z "${RESULT[$t]:-}" ]; then RESULT[$t]=$result; else RESULT[$t]="${RESULT[$t]}; top-up: $result"; fi
  sum=$((sum + runs))
  echo "fuzz-bench: $t: $runs runs, $rate exec/s, ${secs}s, $result"
}

bench_start=$(date +%s)
for t in "${TARGETS[@]}"; do
  run_pass "$t" "$PER_TARGET" "$LOG_DIR/$t.log"
done

# With a time cap, slow targets may stop short of their share. Then the targets that did their
# share without hitting the cap make up the difference, each in proportion to its exec/s (so
# all of them take about the same time), in up to 3 rounds.
round=0
while [ ${#crashed[@]} -eq 0 ] && [ "$sum" -lt "$TOTAL" ] && [ -n "$MAX_TIME" ] && [ $round -lt 3 ]; do
  round=$((round + 1))
  deficit=$((TOTAL - sum))
  fast=()
  rates=0
  for t in "${TARGETS[@]}"; do
    if [ -z "${CAPPED[$t]:-}" ] && [ "${RATE[$t]}" -gt 0 ]; then
      fast+=("$t")
      rates=$((rates + RATE[$t]))
    fi
  done
  [ ${#fast[@]} -gt 0 ] || break
  echo "fuzz-bench: $sum of $TOTAL executions after the time cap; top-up round $round: $deficit runs over ${fast[*]}"
  for t in "${fast[@]}"; do
    want=$(((deficit * RATE[$t] + rates - 1) / rates))
    [ "$want" -gt 0 ] || want=1
    run_pass "$t" "$want" "$LOG_DIR/$t.topup$round.log"
    [ ${#crashed[@]} -eq 0 ] || break
  done
done
wall=$(($(date +%s) - bench_start))

{
  echo "Run: \`${FUZZ_BENCH_MAX_TIME:+FUZZ_BENCH_MAX_TIME=$FUZZ_BENCH_MAX_TIME }bash fuzz/bench.sh${1:+ $1}\`, started $started, commit $commit,"
  echo "$(cargo +nightly fuzz --version), $(rustc +nightly --version)."
  echo "Requested total $TOTAL: ${#TARGETS[@]} targets x \`-runs=$PER_TARGET\`${MAX_TIME:+, \`-max_total_time=$MAX_TIME\`}$([ $round -gt 0 ] && echo ", then $round top-up round(s)"); wall time ${wall}s ($((wall / 60)) min)."
  echo
  echo "| target | executions | exec/s | time (s) | result |"
  echo "|---|---:|---:|---:|---|"
  for t in "${TARGETS[@]}"; do
    rate=$(awk -v n="${RUNS[$t]}" -v s="${FUZZSECS[$t]}" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
    echo "| \`$t\` | ${RUNS[$t]} | $rate | ${SECS[$t]} | ${RESULT[$t]} |"
  done
  echo "| **total** | **$sum** | | **$wall** | **${#crashed[@]} crashes** |"
} >"$OUT"

echo
cat "$OUT"
echo
echo "fuzz-bench: total $sum executions over ${#TARGETS[@]} targets in ${wall}s (requested $TOTAL), ${#crashed[@]} crashes; table in $OUT"
status=0
if [ ${#crashed[@]} -gt 0 ]; then
  echo "fuzz-bench: CRASHED: ${crashed[*]} (inputs in $ARTIFACTS_ROOT/<target>/, output in $LOG_DIR/<target>.log)" >&2
  status=1
fi
if [ "$sum" -lt "$TOTAL" ]; then
  echo "fuzz-bench: only $sum of the requested $TOTAL executions were done" >&2
  status=1
fi
exit $status
