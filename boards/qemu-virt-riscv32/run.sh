#!/usr/bin/env bash
# Builds the QEMU virt (riscv32imac) image for the given servers and boots it once, over
# smoltcp on a virtio-net device and QEMU's user-mode network, whose gateway 10.0.2.2 is the
# host's loopback (a server on 127.0.0.1:PORT is reached at 10.0.2.2:PORT; the image connects
# nowhere else). The image keeps a SCEP (micromdm) and an EST (est-ca, TLS 1.3) identity with
# the library's lifecycle runner, in pflash unit 1: it enrolls where the flash holds no
# identity (PKCSReq, /simpleenroll), renews where it holds one (RenewalReq, /simplereenroll
# over mutual TLS), and finishes a job a killed boot left. Exits with QEMU's exit code, the
# image's verdict: 0 only if both identities were enrolled or renewed (and the peak stack is
# within the image's ceiling); 137 if QEMU was killed at the image's HOLD: line
# (BOARD_HOLD_AT); 124 if the timeout hit.
#
#   run.sh SCEP_ADDR SCEP_CA_SHA256 EST_ADDR TLS_CA_PEM      (addresses: 127.0.0.1:PORT)
#   ACME_SERVER=127.0.0.1:PORT ACME_TLS_CA=PEM ACME_ROOT=PEM run.sh [SCEP_ADDR ... TLS_CA_PEM]
#
# Optional environment: as boards/qemu-mps2-an386/run.sh (EST_CA, SCEP_CHALLENGE, SCEP_RSA_KEY,
# DEMO_RNG_SEED, EST_TLS_NAME, EST_USER/EST_PASSWORD, QEMU_TIMEOUT, CARGO_TARGET_DIR,
# BOARD_FLASH: here the file behind pflash unit 1, 32 MiB, made all 0xFF if missing (runs
# that share it need the same SCEP_RSA_KEY), BOARD_HOLD_AT (est@N or scep@N: exit 137),
# BOARD_FLASH_ONLY=1), plus PROFILE=1: build with the `profile` feature and run under
# `-icount shift=0` (instruction counts and a sampled profile, printed as PROFILE lines; see
# src/profile.rs).
# ACME (feature `acme`, see boards/acme-test.sh): with ACME_SERVER (pebble's 127.0.0.1:PORT)
# the image also orders a certificate for ACME_IDENTIFIER (default device.acme.test) after the
# SCEP and EST identities, or only that without the four arguments (BOARD_ACME_ONLY). It needs
# ACME_TLS_CA (the server's TLS trust anchor, pebble: DIR/tls-ca.pem) and ACME_ROOT (the root
# the issued chain must lead to, pebble: DIR/root.pem); ACME_HOST (default localhost: the Host
# header and TLS server name), ACME_DIRECTORY (default /dir). The image answers http-01 on
# guest port 80, which QEMU forwards from the host's 127.0.0.1:ACME_HTTP_PORT (default: the
# ACME port + 4, where tests/peers/pebble.sh has pebble's validation authority fetch).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../qemu-run.sh
. "$here/../qemu-run.sh"

flash_only=0
if [ -n "${BOARD_FLASH_ONLY:-}" ] && [ "${BOARD_FLASH_ONLY}" != 0 ]; then flash_only=1; fi
export BOARD_FLASH_ONLY=$flash_only
acme_only=0
if [ "$flash_only" = 0 ] && [ -n "${ACME_SERVER:-}" ] && [ $# -eq 0 ]; then acme_only=1; fi
export BOARD_ACME_ONLY=$acme_only
export SCEP_SERVER=${1:-${SCEP_SERVER:-}}
export SCEP_CA_FINGERPRINT=${2:-${SCEP_CA_FINGERPRINT:-}}
export EST_SERVER=${3:-${EST_SERVER:-}}
EST_TLS_CA=${4:-${EST_TLS_CA:-}}
if [ -n "${ACME_SERVER:-}" ] && [ "$flash_only" = 0 ]; then
  case "$ACME_SERVER" in
  127.0.0.1:*) ;;
  *) echo "run.sh: ACME_SERVER=$ACME_SERVER: only servers on the host's 127.0.0.1 are reachable (QEMU user-mode network)" >&2; exit 2 ;;
  esac
  for var in ACME_TLS_CA ACME_ROOT; do
    [ -r "${!var:-}" ] || { echo "run.sh: ACME_SERVER needs $var (a readable PEM or DER file)" >&2; exit 2; }
    export "$var=$(cd "$(dirname "${!var}")" && pwd)/$(basename "${!var}")"
  done
  acme_http_port=${ACME_HTTP_PORT:-$((${ACME_SERVER##*:} + 4))}
fi
if [ "$flash_only" = 0 ] && [ "$acme_only" = 0 ]; then
  if [ -z "$SCEP_SERVER" ] || [ -z "$SCEP_CA_FINGERPRINT" ] || [ -z "$EST_SERVER" ] || [ -z "$EST_TLS_CA" ]; then
    sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
  fi
  for addr in "$SCEP_SERVER" "$EST_SERVER"; do
    case "$addr" in
    127.0.0.1:*) ;;
    *) echo "run.sh: $addr: only servers on the host's 127.0.0.1 are reachable (QEMU user-mode network)" >&2; exit 2 ;;
    esac
  done
  [ -r "$EST_TLS_CA" ] || { echo "run.sh: cannot read $EST_TLS_CA" >&2; exit 2; }
  EST_TLS_CA=$(cd "$(dirname "$EST_TLS_CA")" && pwd)/$(basename "$EST_TLS_CA")
  export EST_TLS_CA
  if [ -z "${EST_CA:-}" ] && [ -r "$(dirname "$EST_TLS_CA")/ca.pem" ]; then
    export EST_CA="$(dirname "$EST_TLS_CA")/ca.pem"
  fi
fi
for tool in cargo qemu-system-riscv32; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install qemu-system-misc)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The flash file behind pflash unit 1 (exactly 32 MiB, as QEMU's virt requires): the image keeps
# its state there (src/flash.rs). BOARD_FLASH is kept from run to run; without it, a blank one
# serves this run only.
flash_size=$((32 * 1024 * 1024))
flash_file "$flash_size" "$work/flash.bin"
# QEMU's option syntax doubles a comma inside a value.
pflash=(-drive "if=pflash,unit=1,format=raw,file=${flash//,/,,}")

[ "$flash_only" = 1 ] || [ "$acme_only" = 1 ] || device_key "$work"
if [ -z "${DEMO_RNG_SEED:-}" ]; then
  DEMO_RNG_SEED=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
fi
export DEMO_RNG_SEED
echo "run.sh: DEMO_RNG_SEED=$DEMO_RNG_SEED (NOT-SECURE demo generator; set it to repeat a run)"

features=() icount=() wanted=()
if [ "${PROFILE:-0}" = 1 ]; then
  wanted+=(profile) icount=(-icount shift=0)
fi
# The ACME enrollment (and the http-01 port forwarded to the guest's port 80, on the host's
# 127.0.0.1 only).
netdev=user,id=net0,net=10.0.2.0/24,host=10.0.2.2,ipv6=off
if [ -n "${ACME_SERVER:-}" ] && [ "$flash_only" = 0 ]; then
  wanted+=(acme)
  netdev+=",hostfwd=tcp:127.0.0.1:$acme_http_port-:80"
  echo "run.sh: ACME from $ACME_SERVER for ${ACME_IDENTIFIER:-device.acme.test}$([ "$acme_only" = 1 ] && echo ' (ACME only: no SCEP or EST)'); http-01: the host's 127.0.0.1:$acme_http_port is forwarded to the guest's port 80"
fi
if [ ${#wanted[@]} -gt 0 ]; then
  features=(--features "$(IFS=,; echo "${wanted[*]}")")
fi
echo "run.sh: building (cargo build --locked --release ${features[*]})"
t0=$(date +%s.%N)
(cd "$here" && cargo build --locked --release "${features[@]}")
t1=$(date +%s.%N)
elf=${CARGO_TARGET_DIR:-$here/target}/riscv32imac-unknown-none-elf/release/qemu-virt-riscv32

if [ "$flash_only" = 1 ]; then
  echo "run.sh: QEMU virt (riscv32), flash file $flash (BOARD_FLASH_ONLY: no network)"
  set +e
  timeout "${QEMU_TIMEOUT:-600}" qemu-system-riscv32 -M virt -m 64M -smp 1 -nographic -monitor none -bios none \
    "${pflash[@]}" -kernel "$elf"
  rc=$?
  set -e
  echo "run.sh: QEMU exit code $rc"
  exit "$rc"
fi

echo "run.sh: QEMU virt (riscv32), virtio-net on the user-mode network: 10.0.2.2 = the host's loopback; flash file $flash"
set +e
run_qemu "${QEMU_TIMEOUT:-600}" qemu-system-riscv32 -M virt -m 64M -smp 1 -nographic -monitor none -bios none "${icount[@]}" \
  -global virtio-mmio.force-legacy=false \
  -netdev "$netdev" -device virtio-net-device,netdev=net0 \
  "${pflash[@]}" -kernel "$elf"
rc=$?
set -e
t2=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "run.sh: build %.1f s, QEMU run %.1f s\n", t1 - t0, t2 - t1 }'
echo "run.sh: QEMU exit code $rc"
exit "$rc"
