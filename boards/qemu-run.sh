# Sourced by the boards' run.sh: runs QEMU and watches the image's console.
#
#   run_qemu TIMEOUT_SECONDS QEMU_COMMAND...
#
# The console is printed as it comes. When the image prints a line that starts with "HOLD:"
# (an image built with BOARD_HOLD_AT waits there, its job persisted and not begun), QEMU is
# killed with SIGKILL, which to the image's flash is a power cut, and run_qemu returns 137.
# After TIMEOUT_SECONDS QEMU is killed and run_qemu returns 124. Otherwise it returns QEMU's
# exit code.
run_qemu() {
  local limit=$1
  shift
  local out rc='' pid tail_pid deadline
  out=$(mktemp)
  "$@" >"$out" 2>&1 </dev/null &
  pid=$!
  tail -n +1 -f --pid="$pid" "$out" &
  tail_pid=$!
  deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q '^HOLD:' "$out"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rc=137
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rc=124
      break
    fi
    sleep 0.1
  done
  if [ -z "$rc" ]; then
    rc=0
    wait "$pid" || rc=$?
  fi
  wait "$tail_pid" 2>/dev/null || true
  rm -f "$out"
  case "$rc" in
  137) echo "run.sh: QEMU killed (SIGKILL, a power cut to the image) at the image's HOLD point" ;;
  124) echo "run.sh: QEMU killed after ${limit} s (QEMU_TIMEOUT)" ;;
  esac
  return "$rc"
}
