# Sourced by the boards' run.sh: runs QEMU and watches the image's console (run_qemu), and prepares
# the flash file (flash_file) and the SCEP device key (device_key) as both images need them.
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

# flash_file SIZE DEFAULT: the flash file the image keeps its state in (BOARD_FLASH, kept from
# run to run; without it DEFAULT, a blank one for this run), made all 0xFF if missing; sets
# `flash` to its absolute path. Exits 2 when the file is not SIZE bytes or not writable.
flash_file() {
  local size=$1 has
  flash=${BOARD_FLASH:-$2}
  if [ ! -e "$flash" ]; then
    mkdir -p "$(dirname "$flash")"
    head -c "$size" /dev/zero | LC_ALL=C tr '\0' '\377' >"$flash.tmp.$$"
    mv "$flash.tmp.$$" "$flash"
    echo "run.sh: flash file $flash made ($size bytes of 0xFF)"
  fi
  flash=$(cd "$(dirname "$flash")" && pwd)/$(basename "$flash")
  has=$(stat -c %s "$flash")
  [ "$has" -eq "$size" ] || { echo "run.sh: $flash has $has bytes, not $size: not this image's flash file" >&2; exit 2; }
  [ -w "$flash" ] || { echo "run.sh: cannot write $flash" >&2; exit 2; }
}

# device_key DIR: without SCEP_RSA_KEY, a fresh RSA-2048 key for this run in DIR (with a
# warning when BOARD_FLASH is kept: an identity from an earlier run needs its key again).
device_key() {
  [ -z "${SCEP_RSA_KEY:-}" ] || return 0
  if [ -n "${BOARD_FLASH:-}" ]; then
    echo "run.sh: warning: BOARD_FLASH is kept across runs but SCEP_RSA_KEY is not set: this run's SCEP key is new, so an identity in the flash from an earlier run cannot be renewed (set SCEP_RSA_KEY to the same key for every run)" >&2
  fi
  command -v openssl >/dev/null || return 0
  mkdir -p "$1"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$1/device-rsa2048.der" 2>/dev/null
  export SCEP_RSA_KEY="$1/device-rsa2048.der"
}
