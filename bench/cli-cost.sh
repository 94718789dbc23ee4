#!/usr/bin/env bash
# What one enrollment costs the host: the field CLI (cli/, binary `enroll`, release build)
# next to the peer clients that do the same job, against local servers on 127.0.0.1, and the
# size of the stripped binary. CPU is user + system time of the whole process (wait4), peak
# RSS its ru_maxrss (bench/rusage.c); each figure is the median (and the highest) of RUNS runs. Printed as
# Markdown; `.ci/footprint` puts it in docs/footprint.md.
#
#   bash bench/cli-cost.sh [RUNS]      # RUNS defaults to 10
#
# EST: `enroll est enroll` (P-256 key, the CSR built and signed by the tool, TLS 1.3) and
# strongSwan `pki --est` (the CSR made beforehand, TLS 1.2) against est-ca
# (tests/peers/est-ca.sh; the est-server wrapper is built first when missing, into
# $EST_SERVER_TARGET_DIR when set). SCEP (needs root: micromdm runs in a network namespace):
# `enroll scep enroll` (RSA 2048, single DES named as micromdm needs) and micromdm's
# `scepclient` against micromdm's scepserver (tests/peers/micromdm.sh). Keys are made before
# the runs, so no run pays for key generation. Ports: CLI_COST_PORT (default 15200) and the
# next ten.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
PORT=${CLI_COST_PORT:-15200}
W=$(mktemp -d)
cleanup() {
  bash tests/peers/est-ca.sh stop "$W/est" >/dev/null 2>&1 || true
  bash tests/peers/micromdm.sh stop "$W/scep" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

cargo build --locked --release --quiet --manifest-path cli/Cargo.toml >&2
BIN=$PWD/cli/target/release/enroll
cc -O2 -o "$W/rusage" bench/rusage.c
strip -o "$W/enroll" "$BIN"
STRIPPED=$(stat -c %s "$W/enroll")

# measure NAME PREP -- CMD...: RUNS runs of CMD (PREP, a shell command, before each); one
# Markdown row: median and highest CPU ms, median and highest peak RSS MiB, failures.
measure() {
  local name=$1 prep=$2
  shift 3
  local cpu=() rss=() fails=0 c r e
  for _ in $(seq 1 "$RUNS"); do
    eval "$prep"
    read -r c r e < <("$W/rusage" "$@")
    [ "$e" = 0 ] || fails=$((fails + 1))
    cpu+=("$c")
    rss+=("$r")
  done
  printf '%s\n' "${cpu[@]}" | sort -n > "$W/cpu"
  printf '%s\n' "${rss[@]}" | sort -n > "$W/rss"
  local mid=$(((RUNS + 1) / 2))
  printf '| %s | %s | %s | %.1f | %.1f | %d of %d |\n' "$name" \
    "$(sed -n "${mid}p" "$W/cpu")" "$(tail -n1 "$W/cpu")" \
    "$(awk -v k="$(sed -n "${mid}p" "$W/rss")" 'BEGIN{print k/1024}')" "$(awk -v k="$(tail -n1 "$W/rss")" 'BEGIN{print k/1024}')" \
    "$fails" "$RUNS"
}

echo "| one enrollment | CPU ms (median) | CPU ms (highest) | peak RSS MiB (median) | peak RSS MiB (highest) | failed |"
echo "|---|---:|---:|---:|---:|---:|"

# EST against est-ca.
E="$W/est"
bash tests/peers/est-ca.sh start "$E" "$PORT" >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$E/dev.key" 2>/dev/null
openssl req -new -key "$E/dev.key" -subj /CN=strongswan -outform DER -out "$E/sw.csr"
URL="https://localhost:$PORT"
measure "\`enroll est enroll\` (est-ca)" "rm -f '$E/out.pem'" -- "$BIN" est enroll --url "$URL" --tls-ca "$E/tls-ca.pem" \
  --ca "$E/ca.pem" --key "$E/dev.key" --subject CN=device --user device --password secret --one-line --out "$E/out.pem"
measure "strongSwan \`pki --est\` (est-ca)" ":" -- pki --est --url "$URL" --in "$E/sw.csr" --cacert "$E/ca.pem" \
  --cacert "$E/tls-ca.pem" --userpass device:secret --outform pem

# SCEP against micromdm (root only).
if [ "$(id -u)" -eq 0 ]; then
  S="$W/scep"
  bash tests/peers/micromdm.sh start "$S" "$((PORT + 5))" secret >/dev/null
  SURL="http://127.0.0.1:$((PORT + 5))/scep"
  FP=$(openssl x509 -in "$S/depot/ca.pem" -outform DER | sha256sum | cut -d' ' -f1)
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$S/dev.key" 2>/dev/null
  # scepclient makes its key on its first run; the measured runs reuse it.
  scepclient -server-url "$SURL" -private-key "$S/sc.key" -certificate "$S/sc.pem" -cn sc-device \
    -challenge secret -ca-fingerprint "$FP" >/dev/null 2>&1
  measure "\`enroll scep enroll\` (micromdm)" "rm -f '$S/out.pem'" -- "$BIN" scep enroll --url "$SURL" --fingerprint "$FP" \
    --key "$S/dev.key" --subject CN=device --challenge secret --allow-legacy des --out "$S/out.pem"
  measure "micromdm \`scepclient\` (micromdm)" "rm -f '$S/sc.pem'" -- scepclient -server-url "$SURL" \
    -private-key "$S/sc.key" -certificate "$S/sc.pem" -cn sc-device -challenge secret -ca-fingerprint "$FP"
else
  echo "| SCEP (micromdm) | not measured: needs root | | | | |"
fi
echo
echo "The \`enroll\` binary (release, \`opt-level = \"s\"\`, LTO) stripped: $STRIPPED bytes ($(awk -v b="$STRIPPED" 'BEGIN{printf "%.2f", b/1048576}') MiB)."
