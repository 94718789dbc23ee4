#!/usr/bin/env bash
# Cortex-M4 benchmark of the crate's crypto operations (a benchmark command, not a test; CI does
# not run it): RSA-2048 sign, verify and PKCS#1 v1.5 decrypt, P-256 ECDSA sign and verify.
#
#   bash bench/run.sh [--rev REV] [--docs]
#
# Builds bench/m4 for thumbv7em-none-eabihf (opt-level "s", LTO) seven times: the image with
# every operation, a baseline with none, and one per operation; runs the first in QEMU
# mps2-an386 under `-icount shift=0` and prints a Markdown table: per operation, millions of
# instructions, peak stack (bytes) and .text (bytes, the operation's image minus the baseline),
# the previous run's three numbers beside them (bench/last.txt, which this script then rewrites
# with this run's), and the Mbed TLS 3.6 figures of issue 14 for comparison. The table also goes
# to target/bench-m4.md. The timer calibration (40 instructions per tick) is measured in the same
# run and checked; so is each operation's result.
#
#   --rev REV  measure the library as committed at REV (git archive into target/bench-m4/, with
#              this checkout's bench/m4 harness) instead of the working tree; e.g. `--rev HEAD`
#              while src/ has uncommitted work.
#   --docs     also write the table into docs/footprint.md, section "Crypto operations on
#              Cortex-M4" (replaced; `bash .ci/footprint` rewrites the file without it).
#
# Environment: BENCH_TIMEOUT (seconds for the QEMU run, default 600). Build products in
# target/bench-m4/ (CARGO_TARGET_DIR). Needs cargo, qemu-system-arm, python3 (.ci/setup).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
rev= docs=
while [ $# -gt 0 ]; do
  case $1 in
    --rev) [ $# -ge 2 ] || { echo "bench: --rev needs a revision" >&2; exit 2; }; rev=$2; shift 2 ;;
    --docs) docs=$ROOT/docs/footprint.md; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (bash bench/run.sh [--rev REV] [--docs])" >&2; exit 2 ;;
  esac
done
for tool in cargo rustc qemu-system-arm python3 git timeout tar; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (.ci/setup installs it)" >&2; exit 2; }
done

export CARGO_TARGET_DIR=$ROOT/target/bench-m4
WORK=$CARGO_TARGET_DIR/bench
mkdir -p "$WORK"
command_line="bash bench/run.sh${rev:+ --rev $rev}${docs:+ --docs}"
head=$(git rev-parse --short=7 HEAD)
subject() { git log -1 --format=%s "$1" | sed 's/:.*//' | cut -c1-60; } # "rsa (issue 14, item 1)"
locked=--locked
if [ -n "$rev" ]; then
  sha=$(git rev-parse --verify --quiet "$rev^{commit}") || { echo "bench: $rev is not a commit" >&2; exit 2; }
  tree=$WORK/tree-${sha:0:12}
  if [ ! -f "$tree/.complete" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    git archive "$sha" | tar -x -C "$tree"
    touch "$tree/.complete"
  fi
  # This checkout's harness against that revision's library (tar keeps the times, so cargo
  # rebuilds only what changed). Its Cargo.lock may need updating for an older library.
  rm -rf "$tree/bench"
  mkdir -p "$tree/bench"
  tar -C "$ROOT/bench" --exclude=m4/target -cf - m4 | tar -C "$tree/bench" -xf -
  pkg=$tree/bench/m4
  source_desc="embedded-enroll ${sha:0:7} \"$(subject "$sha")\" (--rev $rev)"
  locked=
else
  pkg=$ROOT/bench/m4
  if [ -n "$(git status --porcelain -- src Cargo.toml)" ]; then
    source_desc="embedded-enroll working tree on $head \"$(subject HEAD)\", with uncommitted changes in src/ or Cargo.toml"
  else
    source_desc="embedded-enroll $head \"$(subject HEAD)\" (working tree, src/ as committed)"
  fi
fi

SIZE_TOOL=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)
[ -n "$SIZE_TOOL" ] || SIZE_TOOL=$(command -v arm-none-eabi-size || command -v rust-size || true)
text_of() { # ELF -> .text bytes
  if [ -n "$SIZE_TOOL" ]; then
    "$SIZE_TOOL" -A "$1" | awk '$1==".text"{print $2}'
  else # a 32-bit little-endian ELF's section table, read directly
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<I", d, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x2E)
sec = [struct.unpack_from("<IIIIII", d, shoff + i * shentsize) for i in range(shnum)]
strtab = sec[shstrndx][4]
for name, _, _, _, _, size in sec:
    if d[strtab + name:d.index(b"\0", strtab + name)] == b".text":
        print(size)
PY
  fi
}

# The images: name and cargo feature arguments. "all" is the one that runs.
images=("all:" "baseline:--no-default-features")
for op in rsa-sign:rsa2048-sign rsa-verify:rsa2048-verify rsa-decrypt:rsa2048-decrypt p256-sign:p256-sign p256-verify:p256-verify; do
  images+=("${op#*:}:--no-default-features --features ${op%%:*}")
done
: >"$WORK/sizes.txt"
for image in "${images[@]}"; do
  name=${image%%:*} features=${image#*:}
  echo "bench: building $name" >&2
  # shellcheck disable=SC2086 # the feature arguments split on purpose
  if ! (cd "$pkg" && cargo build $locked --release --quiet $features); then
    echo "bench: the $name image did not build${locked:+ (a changed dependency needs bench/m4/Cargo.lock updated: cargo update in bench/m4)}" >&2
    exit 1
  fi
  cp "$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/bench-m4" "$WORK/$name.elf"
  [ "$name" = all ] || echo "$name $(text_of "$WORK/$name.elf")" >>"$WORK/sizes.txt"
done

echo "bench: running the image in QEMU (-icount shift=0)" >&2
rc=0
timeout "${BENCH_TIMEOUT:-600}" qemu-system-arm -M mps2-an386 -nographic -monitor none -serial null \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$WORK/all.elf" >"$WORK/run.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^bench: done$' "$WORK/run.log"; then
  tail -n 20 "$WORK/run.log" >&2
  echo "bench: the QEMU run failed (exit $rc; 124 is the timeout)" >&2
  exit 1
fi
echo >&2
python3 "$ROOT/bench/report.py" "$WORK/run.log" "$WORK/sizes.txt" "$ROOT/bench/last.txt" "$ROOT/target/bench-m4.md" \
  "$source_desc" "$command_line" ${docs:+"$docs"}
