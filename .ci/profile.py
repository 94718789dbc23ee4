#!/usr/bin/env python3
"""Splits the instruction counts of a profiled board run (PROFILE lines of
boards/qemu-virt-riscv32 built with `--features profile` and run under `-icount shift=0`)
into crypto primitives and everything else.

    profile.py ELF LOG   -> one Markdown table row per protocol, then the top crypto symbols

LOG may hold several boots of one image (their PROFILE lines add up).

Each sample is the program counter every N instructions, counted per 64-byte block of .text;
a block is attributed to the function symbol (llvm-nm) that contains its first byte. A
function is a crypto primitive when its demangled path starts in a crypto crate (list below):
code of those crates inlined into other functions counts as "everything else", and a block
shared by two functions goes to the first. Instructions of network calls that found nothing
to do (the image spins while the server works) are reported apart: they depend on the host.
"""
import bisect
import glob
import re
import subprocess
import sys

CRYPTO = re.compile(
    r"^(?:<)?(?:p256|p384|elliptic_curve|primeorder|ecdsa|crypto_bigint|rsa|num_bigint_dig|sha1|sha2|md5|"
    r"hmac|hkdf|aes|aes_gcm|ghash|polyval|des|cbc|ctr|cipher|chacha20|rand_chacha|digest|subtle|signature|"
    r"block_buffer|universal_hash|ff|group|embedded_enroll::crypto)::"
)
# Block copies and fills: mostly bignum values moved by the arithmetic (counted apart: the
# profile has no call stacks to charge them to their callers).
MEMORY = re.compile(r"^(?:compiler_builtins::mem::)?(?:memcpy|memset|memmove|memcmp|bcmp)\b")


def tidy(name):
    """Legacy-mangled trait impl paths that llvm-nm leaves half done, made readable."""
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("$RF$", "&"), ("$C$", ","), ("..", "::")):
        name = name.replace(a, b)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return name.lstrip("_")


def llvm_nm():
    found = glob.glob(subprocess.check_output(["rustc", "--print", "sysroot"], text=True).strip() + "/lib/rustlib/*/bin/llvm-nm")
    return found[0] if found else "llvm-nm"


def symbols(elf):
    out = subprocess.check_output([llvm_nm(), "-n", "-C", "--defined-only", elf], text=True)
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in ("t", "T"):
            addrs.append(int(parts[0], 16))
            names.append(tidy(parts[2]))
    return addrs, names


def main():
    elf, log = sys.argv[1], sys.argv[2]
    addrs, names = symbols(elf)
    period, totals, samples = None, {}, {}
    for line in open(log, errors="replace"):
        f = line.split()
        if not f or f[0] != "PROFILE":
            continue
        if f[1] == "text-start":
            period = int(f[6])
        elif f[1] == "total":
            # A log of several boots (enroll, then renew) adds up.
            t, i = totals.get(f[2], (0, 0))
            totals[f[2]] = (t + int(f[3]), i + int(f[5]))
        elif f[1] == "sample":
            samples.setdefault(f[2], []).append((int(f[3], 16), int(f[4])))
    if period is None or not totals:
        sys.exit("profile.py: no PROFILE lines in " + log)
    top = {}
    print("| protocol | instructions | crypto primitives | memcpy/memset | everything else | idle network polls (host-dependent) | samples |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for proto, label in (("scep", "SCEP PKCSReq + RenewalReq (RSA-2048)"), ("est", "EST simpleenroll + simplereenroll (TLS 1.3, P-256)")):
        total, idle = totals.get(proto, (0, 0))
        crypto_samples = memory_samples = all_samples = 0
        for addr, n in samples.get(proto, []):
            all_samples += n
            i = bisect.bisect_right(addrs, addr) - 1
            name = names[i] if i >= 0 else "?"
            if CRYPTO.match(name):
                crypto_samples += n
                top[name] = top.get(name, 0) + n
            elif MEMORY.match(name):
                memory_samples += n
        # The share of crypto among the samples outside idle polls, applied to the counted total.
        work = max(total - idle, 0)
        crypto = min(crypto_samples * period, work)
        memory = min(memory_samples * period, work - crypto)
        rest = work - crypto - memory
        pct = lambda v: f"{100 * v / max(work, 1):.0f} %"
        print(f"| {label} | {total:,} | {crypto:,} ({pct(crypto)}) | {memory:,} ({pct(memory)}) | {rest:,} ({pct(rest)}) | {idle:,} | {all_samples:,} |")
    print()
    print("Top crypto functions (samples, both protocols):")
    print()
    for name, n in sorted(top.items(), key=lambda kv: -kv[1])[:8]:
        print(f"- {n:,} `{name[:110]}`")


if __name__ == "__main__":
    main()
