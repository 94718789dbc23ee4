#!/usr/bin/env bash
# The board images across reboots (CI): three boots of one image on one flash file, the
# first one killed in the middle of an enrollment.
#
#   reboot-test.sh BOARD HOLD SCEP_ADDR SCEP_CA_SHA256 EST_ADDR TLS_CA_PEM
#
# BOARD is qemu-mps2-an386 or qemu-virt-riscv32; HOLD (est or scep) is the profile whose
# enrollment boot 1 is killed in: the image is built with BOARD_HOLD_AT=HOLD@1, waits at that
# job's start (its key generated and the job persisted in flash, nothing sent) and run.sh kills
# QEMU there with SIGKILL.
#
#   boot 1  fresh flash. The profile before HOLD's (SCEP, when HOLD=est) enrolls; HOLD's job
#           starts and QEMU is killed.
#   boot 2  HOLD's profile finishes that job: the same key (the same SubjectPublicKeyInfo
#           hash), none generated; the other profile renews (or, not reached in boot 1,
#           enrolls).
#   boot 3  both profiles restore their identity from flash and renew it.
#
# Exits 0 only if every boot did that. The image, the RNG seed and the RSA key are the same for
# the three boots (one build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 6 ] || { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
board=$1 hold=$2
shift 2
case "$hold" in
est) held=EST other=SCEP ;;
scep) held=SCEP other=EST ;;
*) echo "reboot-test.sh: HOLD is est or scep, not $hold" >&2; exit 2 ;;
esac
[ -x "$here/$board/run.sh" ] || [ -r "$here/$board/run.sh" ] || { echo "reboot-test.sh: no board $board" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BOARD_FLASH="$work/flash.bin" BOARD_HOLD_AT="$hold@1"
export DEMO_RNG_SEED=${DEMO_RNG_SEED:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
if [ -z "${SCEP_RSA_KEY:-}" ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$work/device-rsa2048.der" 2>/dev/null
  export SCEP_RSA_KEY="$work/device-rsa2048.der"
fi

fail() {
  echo "reboot-test.sh: $board: $*" >&2
  exit 1
}
# The key SPKI hash of the first job line of profile $2 in log $1.
job_spki() { grep -m1 "^\[$2\] \[ *[0-9]* ms\] job: " "$1" | sed -n 's/.*key SPKI SHA-256 \([0-9a-f:]*\).*/\1/p'; }
# Whether log $1 has profile $2's activation with outcome $3 (enrolled, renewed).
activated() { grep -q "^\[$2\] \[ *[0-9]* ms\] identity in use: key slot [AB] ($3)" "$1"; }

for boot in 1 2 3; do
  log="$work/boot$boot.log"
  echo "reboot-test.sh: $board boot $boot"
  rc=0
  bash "$here/$board/run.sh" "$@" >"$log" 2>&1 || rc=$?
  sed "s/^/  boot $boot | /" "$log"
  grep -q "^flash: boot $boot\b" "$log" || fail "boot $boot: the image did not count itself as boot $boot"
  case "$boot" in
  1)
    [ "$rc" -eq 137 ] || fail "boot 1: expected QEMU killed at the HOLD point (137), got exit $rc"
    grep -q "^HOLD: \[$held\]" "$log" || fail "boot 1: no HOLD line for $held"
    grep -q "^\[$held\] \[ *[0-9]* ms\] key generated in key slot A" "$log" || fail "boot 1: $held generated no key before its job"
    held_spki=$(job_spki "$log" "$held")
    [ -n "$held_spki" ] || fail "boot 1: no $held job line"
    if [ "$held" = EST ]; then activated "$log" SCEP enrolled || fail "boot 1: SCEP did not enroll before EST"; fi
    ;;
  2)
    [ "$rc" -eq 0 ] || fail "boot 2: exit $rc"
    grep -q "^\[$held\] restored from flash: no identity yet, a job in progress" "$log" || fail "boot 2: $held did not find its job in flash"
    if grep -q "^\[$held\] \[ *[0-9]* ms\] key generated" "$log"; then fail "boot 2: $held generated a new key instead of finishing its job"; fi
    [ "$(job_spki "$log" "$held")" = "$held_spki" ] || fail "boot 2: $held's job certifies another key ($(job_spki "$log" "$held"), not $held_spki)"
    activated "$log" "$held" enrolled || fail "boot 2: $held did not finish its enrollment"
    if [ "$held" = EST ]; then
      activated "$log" SCEP renewed || fail "boot 2: SCEP did not renew"
    else
      activated "$log" EST enrolled || fail "boot 2: EST did not enroll"
    fi
    echo "reboot-test.sh: $board boot 2 finished $held's interrupted enrollment with the same key (SPKI SHA-256 $held_spki)"
    ;;
  3)
    [ "$rc" -eq 0 ] || fail "boot 3: exit $rc"
    for p in SCEP EST; do
      grep -q "^\[$p\] restored from flash: identity in key slot" "$log" || fail "boot 3: $p restored no identity"
      activated "$log" "$p" renewed || fail "boot 3: $p did not renew"
    done
    ;;
  esac
done
echo "reboot-test.sh: $board: boot 1 killed in $held's enrollment, boot 2 finished it with the same key, boot 3 restored and renewed both identities"
