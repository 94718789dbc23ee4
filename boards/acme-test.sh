#!/usr/bin/env bash
# The riscv32 image enrolls over ACME (RFC 8555) from pebble and answers the http-01
# challenge itself, through smoltcp sockets listening on the guest's port 80 (CI).
#
#   acme-test.sh [SCEP_ADDR SCEP_CA_SHA256 EST_ADDR TLS_CA_PEM]
#
# Starts pebble and pebble-challtestsrv with tests/peers/pebble.sh on 127.0.0.1, ports
# ACME_TEST_PORT..ACME_TEST_PORT+5 (default 14600: pebble's ACME at 14600, its validation
# authority fetching http-01 from 127.0.0.1:14604, which QEMU forwards to the guest's port 80;
# challtestsrv resolves every name to 127.0.0.1), builds the qemu-virt-riscv32 image with the
# `acme` feature (boards/qemu-virt-riscv32/run.sh with ACME_SERVER, ACME_TLS_CA = pebble's
# TLS CA, ACME_ROOT = pebble's root) and boots it twice on one flash file:
#
#   boot 1  a new account (key generated into flash key slot 2), an order for
#           ACME_IDENTIFIER (default device.acme.test), the http-01 challenge answered by the
#           image, the chain checked by the client against pebble's root;
#   boot 2  the same account (the key kept in flash: the same account URL), a new order with a
#           new certificate key (pebble runs with PEBBLE_AUTHZREUSE=0: boot 1's authorization
#           is not reused, so boot 2 answers its own challenge).
#
# Each boot's UART output must show the issued certificate (subject and SAN the identifier,
# its serial) and the chain as PEM between the image's markers; the chain is checked again
# with `openssl verify` against pebble's root, and the printed serial against openssl's.
# Without arguments the image runs the ACME enrollment alone (BOARD_ACME_ONLY); with the four
# arguments of run.sh it also keeps its SCEP and EST identities. Exits 0 only if both boots
# passed. Environment: CARGO_TARGET_DIR, QEMU_TIMEOUT, ACME_TEST_PORT, ACME_IDENTIFIER.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 0 ] || [ $# -eq 4 ] || { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
for tool in openssl qemu-system-riscv32 pebble pebble-challtestsrv; do
  command -v "$tool" >/dev/null || { echo "acme-test.sh: $tool not found (.ci/setup: qemu-system-misc, pebble, openssl)" >&2; exit 2; }
done
port=${ACME_TEST_PORT:-14600}
name=${ACME_IDENTIFIER:-device.acme.test}

work=$(mktemp -d)
cleanup() {
  bash "$root/tests/peers/pebble.sh" stop "$work/pebble" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "acme-test.sh: $*" >&2
  exit 1
}

# Every order needs its challenge answered (pebble would reuse boot 1's valid authorization
# for boot 2's order half of the time, and boot 2 would then answer nothing).
url=$(PEBBLE_AUTHZREUSE=0 bash "$root/tests/peers/pebble.sh" start "$work/pebble" "$port") || fail "pebble did not start"
echo "acme-test.sh: pebble at $url (validation authority: http-01 from 127.0.0.1:$((port + 4)))"
export ACME_SERVER="127.0.0.1:$port" ACME_TLS_CA="$work/pebble/tls-ca.pem" ACME_ROOT="$work/pebble/root.pem"
export ACME_IDENTIFIER=$name BOARD_FLASH="$work/flash.bin"
export DEMO_RNG_SEED=${DEMO_RNG_SEED:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
if [ $# -eq 4 ] && [ -z "${SCEP_RSA_KEY:-}" ]; then
  # Both boots renew the SCEP identity of the first: the same RSA key.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$work/device-rsa2048.der" 2>/dev/null
  export SCEP_RSA_KEY="$work/device-rsa2048.der"
fi

accounts=()
for boot in 1 2; do
  log="$work/boot$boot.log"
  echo "acme-test.sh: boot $boot"
  rc=0
  bash "$here/qemu-virt-riscv32/run.sh" "$@" >"$log" 2>&1 || rc=$?
  sed "s/^/  boot $boot | /" "$log"
  [ "$rc" -eq 0 ] || fail "boot $boot: exit $rc"
  grep -q '^RESULT: PASS' "$log" || fail "boot $boot: no RESULT: PASS line"
  grep -q '^\[ACME\] \[ *[0-9]* ms\] issued; chain checked against ACME_ROOT' "$log" || fail "boot $boot: no certificate issued"
  grep -Eq "^\[ACME\] \[ *[0-9]* ms\] http-01 for $name withdrawn: [1-9][0-9]* validation request\(s\) answered" "$log" \
    || fail "boot $boot: the image answered no http-01 validation request"
  grep -q "^  subject:     CN=$name\$" "$log" || fail "boot $boot: the certificate's subject is not CN=$name"
  grep -q "^  SAN:         DNS:$name\$" "$log" || fail "boot $boot: the certificate has no SAN DNS:$name"
  case "$boot" in
  1) grep -q "^\[ACME\] account key: P-256 generated into flash key slot 2" "$log" || fail "boot 1: no account key generated" ;;
  2) grep -q "^\[ACME\] account key: P-256 in flash key slot 2 (kept" "$log" || fail "boot 2: the account key was not kept in flash" ;;
  esac
  accounts+=("$(sed -n 's/^\[ACME\] account: //p' "$log")")

  # The chain the image printed, checked again by openssl against pebble's root.
  sed -n '/^ACME chain (PEM, leaf first): begin$/,/^ACME chain (PEM): end$/p' "$log" | sed '1d;$d' >"$work/chain$boot.pem"
  awk -v leaf="$work/leaf$boot.pem" -v rest="$work/intermediates$boot.pem" \
    '/-----BEGIN CERTIFICATE-----/ { n++ } { print > (n == 1 ? leaf : rest) }' "$work/chain$boot.pem"
  [ -s "$work/leaf$boot.pem" ] && [ -s "$work/intermediates$boot.pem" ] || fail "boot $boot: no leaf and intermediate PEM on the UART"
  openssl verify -CAfile "$ACME_ROOT" -untrusted "$work/intermediates$boot.pem" "$work/leaf$boot.pem" \
    || fail "boot $boot: openssl verify refused the chain"
  serial=$(openssl x509 -in "$work/leaf$boot.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
  printed=$(sed -n '/^ACME certificate:$/,/^ACME chain/ s/^  serial:      //p' "$log" | tr -d ':')
  [ "$(printf '%s' "$serial" | sed 's/^0*//')" = "$(printf '%s' "$printed" | sed 's/^0*//')" ] \
    || fail "boot $boot: the serial printed ($printed) is not the certificate's ($serial)"
  openssl x509 -in "$work/leaf$boot.pem" -noout -ext subjectAltName | grep -q "DNS:$name" || fail "boot $boot: openssl finds no DNS:$name"
  echo "acme-test.sh: boot $boot: certificate serial $serial for DNS:$name, verified by openssl against pebble's root"
done
[ -n "${accounts[0]}" ] && [ "${accounts[0]}" = "${accounts[1]}" ] \
  || fail "boot 2 used another account (${accounts[1]}, not ${accounts[0]})"
[ "$(openssl x509 -in "$work/leaf1.pem" -noout -pubkey)" != "$(openssl x509 -in "$work/leaf2.pem" -noout -pubkey)" ] \
  || fail "boot 2's certificate carries boot 1's key (a new key per order expected)"
echo "acme-test.sh: the riscv32 image enrolled twice over ACME from pebble (account ${accounts[0]} kept across the reboot), answering http-01 itself"
