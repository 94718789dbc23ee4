#!/usr/bin/env bash
# Starts or stops the ACME peer: pebble + pebble-challtestsrv (Debian package `pebble`, 2.4.0),
# both on 127.0.0.1 only.
#
#   tests/peers/pebble.sh start DIR PORT [--eab]   -> prints "https://127.0.0.1:PORT/dir"
#   tests/peers/pebble.sh stop DIR
#
# Ports, all on 127.0.0.1:
#   PORT    pebble ACME (HTTPS, the directory is /dir)
#   PORT+1  pebble management (HTTPS: /roots/0, /intermediates/0, ...)
#   PORT+2  challtestsrv management API (HTTP: /set-txt, /clear-txt, /add-a, ...)
#   PORT+3  challtestsrv DNS (udp + tcp); pebble resolves every name through it: A answer
#           127.0.0.1 by default, no AAAA answer (-defaultIPv6 ""), so the VA dials only
#           127.0.0.1 (a test can still add records through the API)
#   PORT+4  pebble's httpPort: where its VA fetches http-01 (the client under test listens)
#   PORT+5  pebble's tlsPort: where its VA connects for tls-alpn-01 (the client under test)
# challtestsrv runs with its http-01, https-01 and tls-alpn-01 listeners off, so PORT+4 and
# PORT+5 stay free for the client under test.
#
# --eab: the packaged External Account Binding config (/usr/share/doc/pebble/examples/):
# newAccount then needs EAB; the keys are copied to DIR/eab-keys.txt, one "KID HMACKEY" a line
# (the HMAC key base64url, as pebble reads it).
#
# PEBBLE_VA_NOSLEEP=1 is set (no random validation delay). Nonce rejection stays at pebble's
# default (5% of good nonces get badNonce) unless the caller exports PEBBLE_WFE_NONCEREJECT;
# other PEBBLE_* variables of the caller pass through as well.
#
# DIR receives: tls-ca.pem (trust anchor of pebble's HTTPS listeners; generated once with its
# key tls-ca.key and the leaf tls-cert.pem / tls-key.pem, P-256, SAN IP:127.0.0.1 and
# DNS:localhost, reused on the next start), pebble-config.json, root.pem and intermediate.pem
# (pebble's issuing hierarchy, new at every start), eab-keys.txt (--eab), the logs pebble.log and
# challtestsrv.log, and pebble.pid / challtestsrv.pid. Accounts, orders and the issuing root are
# forgotten at every restart.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
examples=/usr/share/doc/pebble/examples

stop_all() {
  local p pid
  for p in pebble challtestsrv; do
    if [ -f "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid")
      kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
      rm -f "$dir/$p.pid"
    fi
  done
}

show_logs() {
  local p
  for p in challtestsrv pebble; do
    echo "--- $dir/$p.log" >&2
    cat "$dir/$p.log" >&2 2>/dev/null || true
  done
}

case "$cmd" in
start)
  port=${3:?port}
  eab=""
  case "${4:-}" in
  "") ;;
  --eab) eab=1 ;;
  *) echo "unknown option: $4 (only --eab)" >&2; exit 2 ;;
  esac
  if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1024 ] || [ "$port" -gt 65530 ]; then
    echo "PORT must be 1024..65530 (PORT..PORT+5 are used)" >&2
    exit 2
  fi
  for tool in pebble pebble-challtestsrv openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool not installed (apt-get install pebble openssl curl python3)" >&2; exit 1; }
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  stop_all
  mgmt_port=$((port + 1)) cts_port=$((port + 2)) dns_port=$((port + 3))
  http_port=$((port + 4)) tls_port=$((port + 5))

  # Transport certificate of pebble's HTTPS listeners (the package ships none).
  if [ ! -s "$dir/tls-ca.pem" ] || [ ! -s "$dir/tls-cert.pem" ] || [ ! -s "$dir/tls-key.pem" ]; then
    {
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
        -keyout "$dir/tls-ca.key" -out "$dir/tls-ca.pem" -subj "/CN=embedded-enroll pebble TLS CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/tls-key.pem" -out "$dir/tls.csr" -subj "/CN=localhost"
      printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$dir/tls-leaf.ext"
      openssl x509 -req -sha256 -days 3650 -in "$dir/tls.csr" -CA "$dir/tls-ca.pem" -CAkey "$dir/tls-ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$dir/tls-leaf.ext" -out "$dir/tls-cert.pem"
      rm -f "$dir/tls.csr" "$dir/tls-leaf.ext"
    } >"$dir/tls-gen.log" 2>&1 || { echo "generating the TLS certificate failed; log:" >&2; cat "$dir/tls-gen.log" >&2; exit 1; }
  fi

  # pebble's config: the packaged example (plain or EAB), moved to 127.0.0.1 and our ports.
  example="$examples/pebble-config.json"
  [ -n "$eab" ] && example="$examples/pebble-config-external-account-bindings.json"
  [ -f "$example" ] || { echo "$example missing (apt-get install pebble)" >&2; exit 1; }
  rm -f "$dir/eab-keys.txt" "$dir/root.pem" "$dir/intermediate.pem"
  python3 - "$example" "$dir" "$port" "$mgmt_port" "$http_port" "$tls_port" "$eab" <<'EOF'
import json, sys
example, d, port, mgmt, http, tls, eab = sys.argv[1:]
cfg = json.load(open(example))
p = cfg["pebble"]
p["listenAddress"] = f"127.0.0.1:{port}"
p["managementListenAddress"] = f"127.0.0.1:{mgmt}"
p["certificate"] = f"{d}/tls-cert.pem"
p["privateKey"] = f"{d}/tls-key.pem"
p["httpPort"] = int(http)
p["tlsPort"] = int(tls)
with open(f"{d}/pebble-config.json", "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
if eab:
    keys = p.get("externalAccountMACKeys") or {}
    if not p.get("externalAccountBindingRequired") or not keys:
        sys.exit(f"{example}: no External Account Binding keys")
    with open(f"{d}/eab-keys.txt", "w") as f:
        for kid, key in keys.items():
            f.write(f"{kid} {key}\n")
EOF

  setsid pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$cts_port" >"$dir/challtestsrv.log" 2>&1 </dev/null &
  echo $! >"$dir/challtestsrv.pid"
  PEBBLE_VA_NOSLEEP=1 setsid pebble -config "$dir/pebble-config.json" -dnsserver "127.0.0.1:$dns_port" \
    >"$dir/pebble.log" 2>&1 </dev/null &
  echo $! >"$dir/pebble.pid"

  # Wait (bounded, ~30 s) until the directory answers over TLS and challtestsrv's API listens.
  ok=""
  for _ in $(seq 1 150); do
    for p in challtestsrv pebble; do
      if ! kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null; then
        echo "$p exited during start; logs:" >&2
        show_logs
        stop_all
        exit 1
      fi
    done
    if curl -sf -o /dev/null --max-time 5 --cacert "$dir/tls-ca.pem" "https://127.0.0.1:$port/dir" \
      && (exec 3<>"/dev/tcp/127.0.0.1/$cts_port") 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.2
  done
  if [ -z "$ok" ]; then
    echo "pebble did not come up within 30 s; logs:" >&2
    show_logs
    stop_all
    exit 1
  fi
  # The issuing hierarchy, generated at this start.
  for what in root:roots intermediate:intermediates; do
    if ! curl -sf --max-time 10 --cacert "$dir/tls-ca.pem" -o "$dir/${what%%:*}.pem" \
      "https://127.0.0.1:$mgmt_port/${what#*:}/0"; then
      echo "fetching /${what#*:}/0 from pebble's management interface failed; logs:" >&2
      show_logs
      stop_all
      exit 1
    fi
  done
  echo "https://127.0.0.1:$port/dir"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  stop_all
  ;;
*)
  echo "usage: $0 start DIR PORT [--eab] | stop DIR" >&2
  exit 2
  ;;
esac
