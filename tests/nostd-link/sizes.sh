#!/usr/bin/env bash
# Section sizes of the SCEP-only, the EST-only and the ACME-only shape of the no_std link check
# (see Cargo.toml), each at opt-level "z" and "s", printed as a Markdown table (header included).
#
#   bash tests/nostd-link/sizes.sh [TARGET]     # TARGET defaults to thumbv7em-none-eabihf
#
# Each of the six builds has its own target directory (target/sizes-<shape>-<opt>/) so they
# do not rebuild each other or the default build in target/. Cargo output goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${1:-thumbv7em-none-eabihf}
SIZE_TOOL=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)
[ -n "$SIZE_TOOL" ] || SIZE_TOOL=$(command -v arm-none-eabi-size || command -v size)
sections() { # ELF -> ".text .rodata .data .bss" in bytes (0 when a section is absent)
  "$SIZE_TOOL" -A "$1" | awk '$1==".text"{t=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
    END{printf "%d %d %d %d\n", t, r, d, b}'
}
echo "| build | opt-level | .text | .rodata | .data | .bss |"
echo "|---|---|---:|---:|---:|---:|"
for shape in scep-only est-only acme-only; do
  case $shape in
    scep-only) label="SCEP only" ;;
    est-only) label="EST only" ;;
    acme-only) label="ACME only" ;;
  esac
  for opt in z s; do
    dir="$PWD/target/sizes-$shape-$opt"
    CARGO_TARGET_DIR="$dir" CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" \
      cargo build --locked --release --quiet --target "$TARGET" --no-default-features --features "$shape" >&2
    read -r t r d b < <(sections "$dir/$TARGET/release/nostd-link")
    echo "| $label | \"$opt\" | $t | $r | $d | $b |"
  done
done
