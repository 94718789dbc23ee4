#!/usr/bin/env bash
# Starts or stops the EST server of the `est-ca` crate (crates.io 0.2.0) for the interop tests,
# through our test-only wrapper tests/peers/est-server (rustls on 127.0.0.1 only).
#
#   tests/peers/est-ca.sh start DIR PORT [extra est-server args]   -> prints "127.0.0.1:PORT"
#   tests/peers/est-ca.sh stop DIR
#
# Extra args: --user USER --password PASS (default device/secret), --tls-key p256|rsa,
# --tls12-only. Builds the wrapper first if needed (cargo build --locked --release, into
# $EST_SERVER_TARGET_DIR, else $CARGO_TARGET_DIR, when set: share one across a CI run, a cold
# build takes minutes).
# DIR receives ca.pem (EST CA, as /cacerts serves it), tls-ca.pem (TLS trust anchor),
# the CA key and serial (reused on the next start), the log and est-server.pid.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pkg="$here/est-server"

case "$cmd" in
start)
  port=${3:?port}
  shift 3
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  target=${EST_SERVER_TARGET_DIR:-${CARGO_TARGET_DIR:-$pkg/target}}
  # Built once (or again with EST_SERVER_REBUILD=1): run from inside `cargo test`, cargo's
  # environment would otherwise make it rebuild parts of the peer on every start.
  if [ ! -x "$target/release/est-server" ] || [ -n "${EST_SERVER_REBUILD:-}" ]; then
    cargo build --locked --release --quiet --manifest-path "$pkg/Cargo.toml" --target-dir "$target" \
      >"$dir/build.log" 2>&1 || { echo "building est-server failed; log:" >&2; cat "$dir/build.log" >&2; exit 1; }
  fi
  rm -f "$dir/est-server.pid"
  setsid --wait "$target/release/est-server" --dir "$dir" --port "$port" "$@" \
    >"$dir/est-server.log" 2>&1 &
  pid=$!
  # Wait (bounded, ~60 s) until the server says it listens and a TLS request answers.
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "est-server exited; log:" >&2
      cat "$dir/est-server.log" >&2
      exit 1
    fi
    if grep -q "^listening on 127.0.0.1:$port\$" "$dir/est-server.log" 2>/dev/null; then
      if ! command -v curl >/dev/null; then
        if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "127.0.0.1:$port"; exit 0; fi
      elif curl -sf -o /dev/null --max-time 5 --cacert "$dir/tls-ca.pem" \
        "https://localhost:$port/.well-known/est/cacerts"; then
        echo "127.0.0.1:$port"
        exit 0
      fi
    fi
    sleep 0.2
  done
  echo "est-server did not come up; log:" >&2
  cat "$dir/est-server.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [ -f "$dir/est-server.pid" ]; then
    pid=$(cat "$dir/est-server.pid")
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/est-server.pid"
  fi
  ;;
*)
  echo "usage: $0 start DIR PORT [est-server args] | stop DIR" >&2
  exit 2
  ;;
esac
