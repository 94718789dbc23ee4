#!/usr/bin/env python3
"""Writes the input bundles that fuzz/replay32's firmware replays, one target at a time.

    bundle.py TARGET OUT_PREFIX [CORPUS_DIR ...]

Inputs: every file of fuzz/seeds/TARGET/, of each CORPUS_DIR (a cargo-fuzz corpus of that
target; missing ones are skipped), and an adversarial set made here:
  - nesting 40, 1 000 and 20 000 deep: constructed SEQUENCEs, constructed OCTET STRINGs and
    context tags, in indefinite and (long-form) definite lengths;
  - huge and edge lengths on every common tag: 0, 1, 0x7f, 0x80 (indefinite), 0x81 0xff,
    0x84 7fffffff, 0x84 ffffffff;
  - every DER length field of every seed (up to 48 per seed) set to 0, 1, indefinite and
    0x84 ffffffff, the rest of the seed unchanged;
  - HTTP replies with lengths and chunk sizes at 0, 1 and beyond 32 bits (for the HTTP-fed
    targets, whose first byte is a split point or whose input is framed by the target, with
    acme_client's 4-byte header too).
The bundle format is the one src/main.rs reads. Bundles larger than MAX_BUNDLE are split:
OUT_PREFIX.0.bin, OUT_PREFIX.1.bin, ... Prints the bundle paths, one a line.
"""
import os
import struct
import sys

MAX_BUNDLE = 0x380000 - 64
MAX_INPUT = 256 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "seeds")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def nested(tag, depth, definite, core=b"\x05\x00"):
    if not definite:
        return bytes([tag, 0x80]) * depth + core + b"\x00\x00" * depth
    inner = core
    for _ in range(depth):
        inner = bytes([tag]) + der_len(len(inner)) + inner
        if len(inner) > MAX_INPUT:
            break
    return inner


def structural():
    out = []
    for depth in (40, 1000, 20000):
        for tag in (0x30, 0x24, 0xA0, 0x31):
            core = b"\x04\x01\xaa" if tag == 0x24 else b"\x05\x00"
            out.append(nested(tag, depth, False, core))
            if depth <= 1000:
                out.append(nested(tag, depth, True, core))
    for tag in (0x30, 0x31, 0x04, 0x02, 0x03, 0x06, 0x24, 0xA0, 0xA3, 0x17, 0x0C):
        for length in (b"\x00", b"\x01", b"\x7f", b"\x80", b"\x81\xff", b"\x84\x7f\xff\xff\xff", b"\x84\xff\xff\xff\xff",
                       b"\x85\x01\x00\x00\x00\x00", b"\x88\xff\xff\xff\xff\xff\xff\xff\xff"):
            out.append(bytes([tag]) + length + b"\x02\x01\x00" * 4)
    return out


def headers(data, start, end, depth, found):
    """Offsets of the length octets of every DER element in data[start:end]."""
    at = start
    while at < end and len(found) < 48 and depth < 24:
        if at + 2 > end:
            return
        tag = data[at]
        if tag & 0x1F == 0x1F:
            return
        lpos = at + 1
        first = data[lpos]
        if first < 0x80:
            n, hl = first, 2
        elif 0x81 <= first <= 0x84:
            k = first & 0x7F
            if lpos + 1 + k > end:
                return
            n, hl = int.from_bytes(data[lpos + 1:lpos + 1 + k], "big"), 2 + k
        else:
            return
        if at + hl + n > end:
            return
        found.append((lpos, hl - 1))
        if tag & 0x20:
            headers(data, at + hl, at + hl + n, depth + 1, found)
        at += hl + n


def length_variants(seed):
    found = []
    headers(seed, 0, len(seed), 0, found)
    out = []
    for lpos, llen in found:
        for new in (b"\x00", b"\x01", b"\x80", b"\x84\xff\xff\xff\xff"):
            out.append(seed[:lpos] + new + seed[lpos + llen:])
    return out


def http_cases():
    heads = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 4294967295\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"x" * 5000 + b"\r\na\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
        b"HTTP/1.1 202 Accepted\r\nRetry-After: 4294967296\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"" + b"r" * 3000 + b"\"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"H: v\r\n" * 4000 + b"\r\n",
    ]
    out = []
    for h in heads:
        out.append(b"\x00" + h)
        out.append(b"\x07" + h)
        # est_client / scep_client framing: 2-byte length, chunk size, reply.
        out.append(struct.pack(">HB", min(len(h), 0xFFFF), 7) + h)
        # acme_client: the same records after a 4-byte header (an order, 8 KiB buffers).
        out.append(b"\x41\xff\xff\xff" + struct.pack(">HB", min(len(h), 0xFFFF), 7) + h)
    return out


def main():
    target, prefix = sys.argv[1], sys.argv[2]
    dirs = [os.path.join(SEEDS, target)] + sys.argv[3:]
    inputs = []
    seeds = []
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    data = f.read(MAX_INPUT + 1)
                if len(data) <= MAX_INPUT:
                    inputs.append(data)
                    if d == dirs[0]:
                        seeds.append(data)
    files = len(inputs)
    inputs += structural()
    for s in seeds:
        inputs += length_variants(s)
    inputs += http_cases()

    paths = []
    batch, size = [], 0
    def flush():
        nonlocal batch, size
        path = "%s.%d.bin" % (prefix, len(paths))
        name = target.encode()
        with open(path, "wb") as f:
            f.write(b"EER1" + bytes([len(name)]) + name + struct.pack("<I", len(batch)))
            for b in batch:
                f.write(struct.pack("<I", len(b)) + b)
        paths.append(path)
        batch, size = [], 0
    for data in inputs:
        if batch and size + len(data) + 4 > MAX_BUNDLE - 64:
            flush()
        batch.append(data)
        size += len(data) + 4
    if batch:
        flush()
    sys.stderr.write("bundle %s: %d inputs (%d seed and corpus files, %d adversarial) in %d bundle(s)\n"
                     % (target, len(inputs), files, len(inputs) - files, len(paths)))
    print("\n".join(paths))


if __name__ == "__main__":
    main()
