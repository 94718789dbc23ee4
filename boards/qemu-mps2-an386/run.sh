#!/usr/bin/env bash
# Builds the mps2-an386 image for the given servers and boots it once in QEMU, all traffic on
# the emulated UART0 through boards/relay.py. The image keeps a SCEP (micromdm) and an EST
# (est-ca, TLS 1.3) identity with the library's lifecycle runner, in its flash file: it
# enrolls where the flash holds no identity (PKCSReq, /simpleenroll), renews where it holds
# one (RenewalReq, /simplereenroll over mutual TLS), and finishes a job a killed boot left.
# Exits with QEMU's exit code, the image's semihosting exit status: 0 only if both identities
# were enrolled or renewed (and the peak stack is within the image's ceiling); 137 if QEMU was
# killed at the image's HOLD: line (BOARD_HOLD_AT); 124 if the timeout hit.
#
#   run.sh SCEP_ADDR SCEP_CA_SHA256 EST_ADDR TLS_CA_PEM
#   SCEP_SERVER=127.0.0.1:18190 SCEP_CA_FINGERPRINT=<hex> EST_SERVER=127.0.0.1:18191 \
#     EST_TLS_CA=/tmp/estb/tls-ca.pem run.sh
#
# Optional environment (see README.md): EST_CA (default: ca.pem next to TLS_CA_PEM, if any),
# SCEP_CHALLENGE (secret), SCEP_RSA_KEY (default: a fresh key made with openssl for this
# run; runs that share a flash file need the same key), DEMO_RNG_SEED (default: fresh from
# /dev/urandom, printed; the generator is NOT SECURE either way), EST_TLS_NAME (localhost),
# EST_USER/EST_PASSWORD (device/secret), QEMU_TIMEOUT (600 s), CARGO_TARGET_DIR, BOARD_FLASH
# (the flash file, kept across runs: made, 256 KiB of 0xFF, if missing; default: a fresh one
# for this run), BOARD_HOLD_AT=est@N or scep@N (on boot N the image waits at that profile's
# job start and QEMU is killed there: exit 137), BOARD_FLASH_ONLY=1 (build an image that
# stops after the flash lines: no servers, no arguments needed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../qemu-run.sh
. "$here/../qemu-run.sh"

flash_only=0
if [ -n "${BOARD_FLASH_ONLY:-}" ] && [ "${BOARD_FLASH_ONLY}" != 0 ]; then flash_only=1; fi
export BOARD_FLASH_ONLY=$flash_only
export SCEP_SERVER=${1:-${SCEP_SERVER:-}}
export SCEP_CA_FINGERPRINT=${2:-${SCEP_CA_FINGERPRINT:-}}
export EST_SERVER=${3:-${EST_SERVER:-}}
EST_TLS_CA=${4:-${EST_TLS_CA:-}}
if [ "$flash_only" = 0 ]; then
  if [ -z "$SCEP_SERVER" ] || [ -z "$SCEP_CA_FINGERPRINT" ] || [ -z "$EST_SERVER" ] || [ -z "$EST_TLS_CA" ]; then
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
  fi
  [ -r "$EST_TLS_CA" ] || { echo "run.sh: cannot read $EST_TLS_CA" >&2; exit 2; }
  EST_TLS_CA=$(cd "$(dirname "$EST_TLS_CA")" && pwd)/$(basename "$EST_TLS_CA")
  export EST_TLS_CA
  if [ -z "${EST_CA:-}" ] && [ -r "$(dirname "$EST_TLS_CA")/ca.pem" ]; then
    export EST_CA="$(dirname "$EST_TLS_CA")/ca.pem"
  fi
fi
for tool in cargo qemu-system-arm python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install qemu-system-arm python3)" >&2; exit 2; }
done

work=$(mktemp -d)
relay_pid=
cleanup() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The flash file: the image keeps its state there (semihosting, see src/flash.rs). BOARD_FLASH
# is kept from run to run; without it, a blank one serves this run only.
flash_size=$((256 * 1024))
flash_file "$flash_size" "$work/flash.bin"

# A fresh device key and RNG seed per run unless given (both only for this emulator demo).
[ "$flash_only" = 1 ] || device_key "$work/key"
if [ -z "${DEMO_RNG_SEED:-}" ]; then
  DEMO_RNG_SEED=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
fi
export DEMO_RNG_SEED
echo "run.sh: DEMO_RNG_SEED=$DEMO_RNG_SEED (NOT-SECURE demo generator; set it to repeat a run)"

echo "run.sh: building (cargo build --locked --release)"
t0=$(date +%s.%N)
(cd "$here" && cargo build --locked --release)
t1=$(date +%s.%N)
elf=${CARGO_TARGET_DIR:-$here/target}/thumbv7em-none-eabihf/release/qemu-mps2-an386
if command -v arm-none-eabi-size >/dev/null; then arm-none-eabi-size "$elf"; fi

if [ "$flash_only" = 1 ]; then
  echo "run.sh: QEMU mps2-an386, flash file $flash (BOARD_FLASH_ONLY: no network)"
  set +e
  timeout "${QEMU_TIMEOUT:-600}" qemu-system-arm -M mps2-an386 -nographic -monitor none \
    -semihosting-config enable=on,target=native -serial null -kernel "$elf" -append "flash=$flash"
  rc=$?
  set -e
  echo "run.sh: QEMU exit code $rc"
  exit "$rc"
fi

python3 "$here/../relay.py" --listen 127.0.0.1:0 --port-file "$work/relay.port" \
  --allow "$SCEP_SERVER" --allow "$EST_SERVER" --once 2>"$work/relay.log" &
relay_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/relay.port" ] && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$work/relay.log" >&2; exit 1; }
  sleep 0.05
done
port=$(cat "$work/relay.port")

echo "run.sh: QEMU mps2-an386, UART0 -> relay 127.0.0.1:$port -> $SCEP_SERVER, $EST_SERVER; flash file $flash"
set +e
run_qemu "${QEMU_TIMEOUT:-600}" qemu-system-arm -M mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native \
  -chardev socket,id=u0,host=127.0.0.1,port="$port",server=off -serial chardev:u0 \
  -kernel "$elf" -append "flash=$flash"
rc=$?
set -e
t2=$(date +%s.%N)
wait "$relay_pid" 2>/dev/null || true
relay_pid=
echo "run.sh: relay log:"
sed 's/^/  /' "$work/relay.log"
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "run.sh: build %.1f s, QEMU run %.1f s\n", t1 - t0, t2 - t1 }'
echo "run.sh: QEMU exit code $rc"
exit "$rc"
