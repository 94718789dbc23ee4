#!/usr/bin/env bash
# Starts or stops the micromdm SCEP server (Debian package `scep`) for the interop tests.
#
#   tests/peers/micromdm.sh start DIR PORT [CHALLENGE]   -> prints "127.0.0.1:PORT"
#   tests/peers/micromdm.sh stop DIR
#
# scepserver listens on every interface with no bind option, so it runs inside a network
# namespace that has only loopback; a socat relay on the host's 127.0.0.1:PORT forwards into
# it. Needs root (ip netns). DIR receives the CA depot (DIR/depot/ca.pem), logs and PID files.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
# The namespace is named after DIR's full path (its last part, and a hash of the whole), so two
# runs whose directories share a last part (…/scep) do not take each other's namespace.
ns="enroll-$(basename "$dir" | tr -c 'a-zA-Z0-9' '-' | cut -c1-12)-$(realpath -m "$dir" | sha256sum | cut -c1-8)"

case "$cmd" in
start)
  port=${3:?port}
  challenge=${4:-secret}
  mkdir -p "$dir"
  command -v scepserver >/dev/null || { echo "scepserver not installed (apt-get install scep)" >&2; exit 1; }
  command -v socat >/dev/null || { echo "socat not installed (apt-get install socat)" >&2; exit 1; }
  if [ ! -f "$dir/depot/ca.pem" ]; then
    scepserver ca -init -depot "$dir/depot" -keySize 2048 >"$dir/ca-init.log" 2>&1
  fi
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  echo "$ns" >"$dir/netns"
  setsid ip netns exec "$ns" scepserver -depot "$dir/depot" -port "$port" -challenge "$challenge" -allowrenew 0 \
    >"$dir/scepserver.log" 2>&1 &
  echo $! >"$dir/scepserver.pid"
  setsid socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork \
    EXEC:"ip netns exec $ns socat STDIO TCP\:127.0.0.1\:$port" >"$dir/socat.log" 2>&1 &
  echo $! >"$dir/socat.pid"
  # Wait (bounded) until GetCACaps answers through the relay.
  for _ in $(seq 1 50); do
    if printf 'GET /scep?operation=GetCACaps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
      | timeout 2 socat - TCP:127.0.0.1:"$port" 2>/dev/null | grep -q "200 OK"; then
      echo "127.0.0.1:$port"
      exit 0
    fi
    sleep 0.2
  done
  echo "scepserver did not come up; log:" >&2
  cat "$dir/scepserver.log" >&2
  exit 1
  ;;
stop)
  for p in socat scepserver; do
    if [ -f "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid")
      kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      rm -f "$dir/$p.pid"
    fi
  done
  if [ -f "$dir/netns" ]; then
    ip netns del "$(cat "$dir/netns")" 2>/dev/null || true
    rm -f "$dir/netns"
  fi
  ;;
*)
  echo "usage: $0 start DIR PORT [CHALLENGE] | stop DIR" >&2
  exit 2
  ;;
esac
