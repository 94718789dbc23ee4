#!/usr/bin/env bash
# Replays every fuzz target's inputs on a 32-bit Cortex-M4F in QEMU (mps2-an386): the seeds
# (fuzz/seeds/<target>/), any cargo-fuzz corpus given, and an adversarial set (bundle.py),
# through the same property checks as `cargo fuzz`, built for thumbv7em-none-eabihf at
# opt-level "s" with overflow checks and debug assertions on. Each input must run to its end
# (a panic or a fault fails the run); the peak stack of each target is measured by painting.
#
#   fuzz/replay32/run.sh [CORPUS_ROOT]      (CORPUS_ROOT/<target>/ holds a corpus per target)
#
# STACK_LIMIT (bytes, default 16384): a target whose deepest input needs more fails, unless
# fuzz/replay32/stack-ceilings.txt gives it its own ceiling (a known excess, measured).
# Prints a table (target, inputs, peak stack) and exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus_root=${1:-}
limit=${STACK_LIMIT:-16384}
for tool in cargo qemu-system-arm python3; do
  command -v "$tool" >/dev/null || { echo "replay32: $tool not found (.ci/setup installs it)" >&2; exit 2; }
done
target_dir=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && CARGO_TARGET_DIR="$target_dir" cargo build --locked --release)
elf="$target_dir/thumbv7em-none-eabihf/release/fuzz-replay32"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t targets < <(sed -n 's/^ *("\([a-z0-9_]*\)", *[a-z0-9_]*),.*/\1/p' "$here/../bodies/src/lib.rs")
[ ${#targets[@]} -gt 0 ] || { echo "replay32: no targets found in fuzz/bodies/src/lib.rs" >&2; exit 1; }
declare -A over
while read -r name ceiling _; do
  case "$name" in '#'*|'') continue ;; esac
  over[$name]=$ceiling
done <"$here/stack-ceilings.txt"
failed=()
rows=()
for t in "${targets[@]}"; do
  corpus=()
  [ -n "$corpus_root" ] && [ -d "$corpus_root/$t" ] && corpus=("$corpus_root/$t")
  mapfile -t bundles < <(python3 "$here/bundle.py" "$t" "$work/$t" "${corpus[@]}")
  inputs=0 peak=0
  for b in "${bundles[@]}"; do
    log="$work/$t.log"
    rc=0
    timeout "${QEMU_TIMEOUT:-600}" qemu-system-arm -M mps2-an386 -nographic -monitor none -serial null \
      -semihosting-config enable=on,target=native -kernel "$elf" \
      -device loader,file="$b",addr=0x20080000 >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || ! grep -q '^replay32: peak-stack ' "$log"; then
      echo "replay32: $t FAILED on $(basename "$b") (exit $rc):" >&2
      tail -n 20 "$log" >&2
      failed+=("$t")
      continue 2
    fi
    grep -v '^replay32: peak-stack ' "$log"
    n=$(sed -n 's/^replay32: \([0-9]*\) inputs of .*/\1/p' "$log")
    p=$(sed -n 's/^replay32: peak-stack [a-z0-9_]* \([0-9]*\)$/\1/p' "$log")
    inputs=$((inputs + n))
    [ "$p" -gt "$peak" ] && peak=$p
  done
  ceiling=${over[$t]:-$limit}
  verdict=ok
  if [ "$peak" -gt "$ceiling" ]; then
    verdict="OVER ${ceiling}"
    failed+=("$t")
  elif [ "$ceiling" -ne "$limit" ]; then
    verdict="over ${limit}, known (ceiling ${ceiling})"
  fi
  rows+=("$(printf '| %-26s | %8d | %8d | %s |' "$t" "$inputs" "$peak" "$verdict")")
done
echo
echo "32-bit replay (thumbv7em, QEMU mps2-an386, overflow checks on), stack limit $limit bytes:"
echo "| target | inputs | peak stack (bytes) | verdict |"
echo "|---|---:|---:|---|"
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "replay32: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "replay32: every input of ${#targets[@]} targets ran to its end"
