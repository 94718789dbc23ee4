#!/usr/bin/env python3
"""Captures real ACME (RFC 8555) exchanges with pebble, for transcript and parser tests.

    bash tests/peers/pebble.sh start DIR PORT
    python3 tests/peers/pebble-capture.py DIR PORT [OUT]
    bash tests/peers/pebble.sh stop DIR

OUT defaults to tests/vectors/acme/pebble-<version>/ beside this repository's tests/. The
pebble must have been started by pebble.sh without --eab (the script reads DIR/tls-ca.pem,
DIR/pebble-config.json, DIR/root.pem, DIR/intermediate.pem). Only 127.0.0.1 is contacted; the
http-01 responder listens on 127.0.0.1:PORT+4 (pebble's httpPort as pebble.sh configures it).

Needs only the Python 3 standard library and the OpenSSL CLI: ES256 signatures are made with
`openssl dgst -sha256 -sign` (DER turned into JWS r||s here), keys and the CSR with
`openssl genpkey` / `openssl req`. No `cryptography` package is used.

Each response is stored byte for byte as read from the TLS stream (the request says
`Connection: close`, the response is read to EOF) in OUT/NN-name.http; the request that produced
it, byte for byte as sent, in OUT/requests/NN-name.http. Keys are reused from OUT when present
(throwaway test keys, kept so that tests can recompute thumbprints and verify signatures).
"""
import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
UA = "embedded-enroll-pebble-capture/1"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(*args, data=None) -> bytes:
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


class Key:
    """An ES256 key held in a PEM file, used through the OpenSSL CLI."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
        spki = run("openssl", "pkey", "-in", path, "-pubout", "-outform", "DER")
        point = spki[-65:]
        assert point[0] == 4 and len(spki) == 91, "not a P-256 key"
        self.jwk = {"crv": "P-256", "kty": "EC", "x": b64u(point[1:33]), "y": b64u(point[33:])}
        canon = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        self.thumbprint = b64u(hashlib.sha256(canon).digest())

    def sign(self, msg: bytes) -> bytes:
        der = run("openssl", "dgst", "-sha256", "-sign", self.path, data=msg)
        # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> r || s, 32 bytes each.
        assert der[0] == 0x30
        i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
        out = b""
        for _ in range(2):
            assert der[i] == 0x02
            n = der[i + 1]
            v = der[i + 2:i + 2 + n].lstrip(b"\0")
            out += v.rjust(32, b"\0")
            i += 2 + n
        return out


class Response:
    def __init__(self, raw: bytes):
        self.raw = raw
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name, value.strip()))
        self.head_len = len(head) + 4
        if (self.header("Transfer-Encoding") or "").lower() == "chunked":
            self.chunked = True
            out, rest = b"", body
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                out += rest[:size]
                rest = rest[size + 2:]
            self.body = out
        else:
            self.chunked = False
            self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


class Capture:
    def __init__(self, state, port, out):
        self.port = port
        self.out = out
        self.host = f"127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(cafile=os.path.join(state, "tls-ca.pem"))
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.n = 0
        self.nonce = None
        self.records = []  # (file, method, url, response)
        self.nonce_retries = 0

    def exchange(self, method, url, body=b"", ctype=None, accept=None):
        m = re.match(r"https://127\.0\.0\.1:(\d+)(/.*)$", url)
        assert m and int(m.group(1)) == self.port, f"refusing to contact {url}"
        req = f"{method} {m.group(2)} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {UA}\r\n"
        req += f"Accept: {accept or '*/*'}\r\n"
        if ctype:
            req += f"Content-Type: {ctype}\r\n"
        if method == "POST":
            req += f"Content-Length: {len(body)}\r\n"
        req += "Connection: close\r\n\r\n"
        reqb = req.encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as s:
            with self.ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(reqb)
                raw = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
        resp = Response(raw)
        nonce = resp.header("Replay-Nonce")
        if nonce:
            self.nonce = nonce
        return reqb, resp

    def save(self, name, method, url, reqb, resp):
        self.n += 1
        fname = f"{self.n:02d}-{name}.http"
        with open(os.path.join(self.out, fname), "wb") as f:
            f.write(resp.raw)
        with open(os.path.join(self.out, "requests", fname), "wb") as f:
            f.write(reqb)
        self.records.append((fname, method, url, resp))
        print(f"{fname}: {resp.status_line} ({len(resp.body)} body bytes)", file=sys.stderr)
        return resp

    def plain(self, name, method, url, expect):
        reqb, resp = self.exchange(method, url)
        assert resp.status == expect, (name, resp.status_line, resp.body)
        return self.save(name, method, url, reqb, resp)

    def jws(self, key, url, payload, kid=None, nonce=None):
        protected = {"alg": "ES256", "nonce": nonce or self.nonce, "url": url}
        if kid:
            protected["kid"] = kid
        else:
            protected["jwk"] = key.jwk
        p64 = b64u(json.dumps(protected, separators=(",", ":")).encode())
        pl64 = "" if payload is None else b64u(json.dumps(payload, separators=(",", ":")).encode())
        sig = key.sign(f"{p64}.{pl64}".encode())
        return json.dumps({"protected": p64, "payload": pl64, "signature": b64u(sig)}).encode()

    def post(self, name, key, url, payload, expect, kid=None, ctype="application/jose+json",
             accept=None, nonce=None, retry=True, problem=None):
        """A signed POST (payload None: POST-as-GET). A good request rejected with badNonce
        (pebble rejects 5% of good nonces) is sent again with the nonce of the rejection."""
        for _ in range(20):
            body = self.jws(key, url, payload, kid, nonce)
            reqb, resp = self.exchange("POST", url, body, ctype, accept)
            ptype = None
            if (resp.header("Content-Type") or "").startswith("application/problem+json"):
                ptype = resp.json().get("type")
            if retry and ptype == "urn:ietf:params:acme:error:badNonce":
                self.nonce_retries += 1
                print(f"  {name}: good nonce rejected (badNonce), retrying", file=sys.stderr)
                continue
            assert resp.status == expect, (name, resp.status_line, resp.body)
            if problem:
                assert ptype in problem, (name, ptype, resp.body)
            return self.save(name, "POST", url, reqb, resp)
        raise SystemExit(f"{name}: badNonce 20 times in a row")


class Responder(http.server.BaseHTTPRequestHandler):
    """The http-01 responder: serves the key authorization of the one token it knows."""

    token = None
    keyauth = None
    seen = []
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            Responder.seen.append((self.requestline, list(self.headers.items())))
        if self.path == f"/.well-known/acme-challenge/{self.token}":
            body = self.keyauth.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
        else:
            body = b"not found\n"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def poll(cap, name, key, kid, url, until, what):
    for _ in range(60):
        body = cap.jws(key, url, None, kid)
        reqb, resp = cap.exchange("POST", url, body, "application/jose+json")
        if resp.status == 400 and "badNonce" in resp.body.decode():
            cap.nonce_retries += 1
            continue
        assert resp.status == 200, (name, resp.status_line, resp.body)
        status = resp.json()["status"]
        if status == until:
            return cap.save(name, "POST", url, reqb, resp)
        assert status in what, (name, status, resp.body)
        time.sleep(0.2)
    raise SystemExit(f"{name}: still not {until}")


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    state, port = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pebble"], stdout=subprocess.PIPE,
                             check=True, text=True).stdout
    upstream = version.split("+")[0]
    out = sys.argv[3] if len(sys.argv) == 4 else os.path.join(REPO, "tests", "vectors", "acme",
                                                               f"pebble-{upstream}")
    cfg = json.load(open(os.path.join(state, "pebble-config.json")))["pebble"]
    assert not cfg.get("externalAccountBindingRequired"), "start pebble without --eab"
    assert cfg["httpPort"] == port + 4
    os.makedirs(os.path.join(out, "requests"), exist_ok=True)
    for f in os.listdir(out):
        if re.match(r"\d\d-.*\.http$", f):
            os.remove(os.path.join(out, f))
    for f in os.listdir(os.path.join(out, "requests")):
        os.remove(os.path.join(out, "requests", f))

    account = Key(os.path.join(out, "account-key.pem"))
    unknown = Key(os.path.join(out, "unknown-account-key.pem"))
    cert_key = os.path.join(out, "cert-key.pem")
    if not os.path.exists(cert_key):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", cert_key)
    run("openssl", "req", "-new", "-key", cert_key, "-subj", "/CN=test.example",
        "-addext", "subjectAltName=DNS:test.example", "-outform", "DER", "-out", os.path.join(out, "csr.der"))
    csr = open(os.path.join(out, "csr.der"), "rb").read()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port + 4), Responder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    cap = Capture(state, port, out)
    d = cap.plain("directory", "GET", f"https://127.0.0.1:{port}/dir", 200).json()
    cap.plain("new-nonce-head", "HEAD", d["newNonce"], 200)
    cap.plain("new-nonce-get", "GET", d["newNonce"], 204)
    newacct = {"termsOfServiceAgreed": True, "contact": ["mailto:admin@test.example"]}
    r = cap.post("new-account", account, d["newAccount"], newacct, 201)
    kid = r.header("Location")
    cap.post("new-account-existing", account, d["newAccount"], {"onlyReturnExisting": True}, 200)
    cap.post("account-post-as-get", account, kid, None, 200, kid=kid)
    r = cap.post("new-order", account, d["newOrder"], {"identifiers": [{"type": "dns", "value": "test.example"}]},
                 201, kid=kid)
    order_url, order = r.header("Location"), r.json()
    authz_url = order["authorizations"][0]
    authz = cap.post("authz-pending", account, authz_url, None, 200, kid=kid).json()
    assert authz["status"] == "pending", authz
    ch = next(c for c in authz["challenges"] if c["type"] == "http-01")
    Responder.token = ch["token"]
    Responder.keyauth = f"{ch['token']}.{account.thumbprint}"
    cap.post("challenge-http01-respond", account, ch["url"], {}, 200, kid=kid)
    poll(cap, "authz-valid", account, kid, authz_url, "valid", ("pending",))
    cap.post("challenge-http01-valid", account, ch["url"], None, 200, kid=kid)
    cap.post("order-ready", account, order_url, None, 200, kid=kid)
    cap.post("finalize", account, order["finalize"], {"csr": b64u(csr)}, 200, kid=kid)
    o = poll(cap, "order-valid", account, kid, order_url, "valid", ("processing",)).json()
    cap.post("certificate", account, o["certificate"], None, 200, kid=kid,
             accept="application/pem-certificate-chain")
    # Plain GET of a resource that needs POST-as-GET.
    cap.plain("order-plain-get", "GET", order_url, 405)

    # Problem documents.
    bad = b64u(hashlib.sha256(b"not a nonce pebble issued").digest())[: len(cap.nonce)]
    cap.post("problem-bad-nonce", account, order_url, None, 400, kid=kid, nonce=bad, retry=False,
             problem=("urn:ietf:params:acme:error:badNonce",))
    cap.post("problem-wrong-content-type", account, order_url, None, 415, kid=kid, ctype="application/json",
             retry=False)
    cap.post("problem-account-does-not-exist", unknown, d["newAccount"], {"onlyReturnExisting": True}, 400,
             problem=("urn:ietf:params:acme:error:accountDoesNotExist",))
    # pebble 2.4.0 accepts "bad..name" (201): it checks only the characters, the length, IP
    # addresses, a trailing dot and wildcards. An underscore is refused.
    cap.post("problem-rejected-identifier", account, d["newOrder"],
             {"identifiers": [{"type": "dns", "value": "bad_name.example"}]}, 400, kid=kid,
             problem=("urn:ietf:params:acme:error:rejectedIdentifier", "urn:ietf:params:acme:error:malformed"))
    srv.shutdown()

    for f in ("root.pem", "intermediate.pem"):
        shutil.copy(os.path.join(state, f), os.path.join(out, f"pebble-{f}"))
    # The issued chain must verify against this run's hierarchy.
    chain = next(r for f, _, _, r in cap.records if f.endswith("-certificate.http")).body
    with open(os.path.join(out, "issued-chain.pem"), "wb") as f:
        f.write(chain)
    verify = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(out, "pebble-root.pem"),
                             "-untrusted", os.path.join(out, "issued-chain.pem"),
                             os.path.join(out, "issued-chain.pem")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    print(verify.stdout.strip(), file=sys.stderr)
    assert verify.returncode == 0

    with open(os.path.join(out, "va-http01-requests.txt"), "w") as f:
        for line, headers in Responder.seen:
            f.write(line + "\n" + "".join(f"{k}: {v}\n" for k, v in headers) + "\n")

    summary = {
        "pebble_version": version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "port": port,
        "config": cfg,
        "account_thumbprint": account.thumbprint,
        "account_url": kid,
        "good_nonces_rejected_and_retried": cap.nonce_retries,
        "va_http01_requests": len(Responder.seen),
        "exchanges": [
            {
                "file": f,
                "request": f"{m} {u}",
                "status": r.status_line,
                "content_type": r.header("Content-Type"),
                "replay_nonce": r.header("Replay-Nonce"),
                "location": r.header("Location"),
                "links": r.all("Link"),
                "header_names": [n for n, _ in r.headers],
                "head_bytes": r.head_len,
                "body_bytes": len(r.body),
                "chunked": r.chunked,
                "problem_type": r.json().get("type")
                if (r.header("Content-Type") or "").startswith("application/problem+json") else None,
            }
            for f, m, u, r in cap.records
        ],
    }
    with open(os.path.join(out, "capture.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"{len(cap.records)} exchanges in {out}; {cap.nonce_retries} good nonce(s) rejected and retried",
          file=sys.stderr)


if __name__ == "__main__":
    main()
