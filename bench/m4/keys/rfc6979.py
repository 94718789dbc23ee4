#!/usr/bin/env python3
"""Deterministic ECDSA P-256 signature (RFC 6979, HMAC-SHA-256, no extra data), written out so
the benchmark can check the crate's P-256 signature byte for byte without verifying it (which
would put the verification code into the sign image and its size).

    rfc6979.py SCALAR_HEX DIGEST_FILE OUT_RAW OUT_DER

SCALAR_HEX is the private scalar (from `openssl pkey -text`), DIGEST_FILE the 32-byte SHA-256
digest. Writes the raw r || s (64 bytes, what `Signer::sign_prehash` returns) and the DER
ECDSA-Sig-Value (for `openssl dgst -verify`, which make.sh runs on it). Plain Python integers,
an implementation independent of the crate's.
"""
import hashlib
import hmac
import sys

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        k >>= 1
    return acc


def der_int(v):
    b = v.to_bytes(32, "big").lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def main():
    d = int(sys.argv[1], 16)
    h = open(sys.argv[2], "rb").read()
    assert len(h) == 32 and 0 < d < N
    x = d.to_bytes(32, "big")
    z = int.from_bytes(h, "big")
    h1 = (z % N).to_bytes(32, "big")  # bits2octets
    mac = lambda key, data: hmac.new(key, data, hashlib.sha256).digest()
    v, k = b"\x01" * 32, b"\x00" * 32
    k = mac(k, v + b"\x00" + x + h1)
    v = mac(k, v)
    k = mac(k, v + b"\x01" + x + h1)
    v = mac(k, v)
    while True:
        v = mac(k, v)
        nonce = int.from_bytes(v, "big")
        if 1 <= nonce < N:
            r = mul(nonce, G)[0] % N
            s = pow(nonce, -1, N) * (z + r * d) % N
            if r and s:
                break
        k = mac(k, v + b"\x00")
        v = mac(k, v)
    open(sys.argv[3], "wb").write(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    body = der_int(r) + der_int(s)
    open(sys.argv[4], "wb").write(b"\x30" + bytes([len(body)]) + body)


if __name__ == "__main__":
    main()
