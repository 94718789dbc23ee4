#!/usr/bin/env python3
"""Turns a run of the Cortex-M4 benchmark image into the Markdown table (bench/run.sh calls it).

    report.py LOG SIZES LAST OUT SOURCE COMMAND [DOCS]

LOG: the image's semihosting output under `-icount shift=0` (see bench/m4/src/main.rs);
SIZES: lines `<image> <.text bytes>` (image `baseline` and one per operation); LAST: the
previous run's results (bench/last.txt), read, then rewritten with this run's; OUT: where the
Markdown goes (besides stdout); SOURCE: which embedded-enroll was measured; COMMAND: the command
line, for the record; DOCS: if given, the Markdown file whose "Crypto operations on Cortex-M4"
section is replaced (added at the end if missing).

Checks before anything is written: the timer calibration (40 instructions per tick of the
25 MHz timers under shift=0, to within 2 ticks, on loops of known length), SysTick agreeing
with the CMSDK timer on every interval, and every operation present. Exit status 1 otherwise.
"""
import datetime
import os
import re
import subprocess
import sys

INSTRUCTIONS_PER_TICK = 40  # 25 MHz timers, one instruction per ns (-icount shift=0)
SYST_PERIOD = 1 << 24
TOLERANCE_TICKS = 2
# (image log name, table label, Mbed TLS 3.6 figure from issue 14, millions of instructions)
OPS = [
    ("rsa2048-sign", "RSA-2048 sign (PKCS#1 v1.5, SHA-256; soft key, `Signer`)", 55.2),
    ("rsa2048-verify", "RSA-2048 verify (PKCS#1 v1.5, SHA-256, e = 65537)", 2.4),
    ("rsa2048-decrypt", "RSA-2048 PKCS#1 v1.5 decrypt (32-byte CEK; soft key, `Decrypter`)", 53.6),
    ("p256-sign", "P-256 ECDSA sign (prehash, RFC 6979; soft key, `Signer`)", 6.3),
    ("p256-verify", "P-256 ECDSA verify (prehash, DER signature)", 21.2),
]
SECTION = "## Crypto operations on Cortex-M4"


def fail(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def parse_log(path):
    rows = []
    pat = re.compile(r"^bench: (overhead|calibration|op) (\S+) n=(\d+) timer0=(\d+) systick=(\d+) stack=(\d+)$")
    done = False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        m = pat.match(line)
        if m:
            kind, name, n, t0, st, stack = m.groups()
            rows.append((kind, name, int(n), int(t0), int(st), int(stack)))
        elif line == "bench: done":
            done = True
    if not done:
        fail(f"the image did not finish (no 'bench: done' in {path})")
    return rows


def systick_agrees(timer0, systick):
    d = (timer0 - systick) % SYST_PERIOD
    return min(d, SYST_PERIOD - d) <= TOLERANCE_TICKS


def read_last(path):
    prev, meta = {}, {}
    if not os.path.exists(path):
        return prev, meta
    for line in open(path, encoding="utf-8"):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] in ("date", "source", "rustc"):
            meta[parts[0]] = line.split(None, 1)[1].strip() if len(parts) > 1 else ""
        elif len(parts) == 4:
            prev[parts[0]] = tuple(int(x) for x in parts[1:])
    return prev, meta


def main():
    if len(sys.argv) not in (7, 8):
        fail(__doc__)
    log, sizes_path, last_path, out_path, source, command = sys.argv[1:7]
    docs = sys.argv[7] if len(sys.argv) == 8 else None

    rows = parse_log(log)
    over = [r for r in rows if r[0] == "overhead"]
    if len(over) != 1:
        fail("no overhead line in the log")
    overhead = over[0][3]
    calib = []
    for kind, _, n, t0, st, _ in rows:
        if kind != "calibration":
            continue
        ticks = t0 - overhead
        if abs(ticks * INSTRUCTIONS_PER_TICK - n) > TOLERANCE_TICKS * INSTRUCTIONS_PER_TICK or not systick_agrees(t0, st):
            fail(
                f"calibration failed: a loop of {n} instructions took {ticks} ticks of timer 0 and "
                f"{st} of SysTick (mod 2^24), expected {n // INSTRUCTIONS_PER_TICK}: is QEMU running with -icount shift=0?"
            )
        calib.append((n, t0, st, n / ticks))
    if len(calib) < 2:
        fail("no calibration lines in the log")

    sizes = {}
    for line in open(sizes_path, encoding="utf-8"):
        name, text = line.split()
        sizes[name] = int(text)
    if "baseline" not in sizes:
        fail("no baseline image size")

    measured = {}
    for kind, name, _, t0, st, stack in rows:
        if kind != "op":
            continue
        if not systick_agrees(t0, st):
            fail(f"{name}: SysTick ({st} mod 2^24) disagrees with timer 0 ({t0} ticks)")
        if name not in sizes:
            fail(f"{name}: no image size")
        measured[name] = ((t0 - overhead) * INSTRUCTIONS_PER_TICK, stack, sizes[name] - sizes["baseline"])
    missing = [op for op, _, _ in OPS if op not in measured]
    if missing:
        fail(f"operations missing from the run: {' '.join(missing)}")

    prev, prev_meta = read_last(last_path)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    mi = lambda v: f"{v / 1e6:.1f}"
    if prev:
        prev_label = f"previous run ({prev_meta.get('date', '?')}, {prev_meta.get('source', '?')})"
    else:
        prev_label = "previous run (none: no bench/last.txt)"

    table = [
        "| operation | M instructions | peak stack (bytes) | .text (bytes) | previous: M instructions | previous: peak stack | previous: .text | Mbed TLS 3.6, M instructions (issue 14) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op, label, mbed in OPS:
        ins, stack, text = measured[op]
        p = prev.get(op)
        pcols = [mi(p[0]), str(p[1]), str(p[2])] if p else ["-", "-", "-"]
        table.append(f"| {label} | {mi(ins)} | {stack} | {text} | {' | '.join(pcols)} | {mbed} |")
    cal = "; ".join(f"{n:,} instructions = {t0:,} ticks ({ipt:.4f} per tick)" for n, t0, _, ipt in calib)
    body = [
        f"Made by `{command}` on {today} with {rustc}; measured: {source}.",
        f"Previous columns: {prev_label}.",
        "",
        *table,
        "",
        f"Calibration (in the same image, before the operations): loops of known length in inline assembly, "
        f"timed by the CMSDK timer 0 and SysTick at 25 MHz under `-icount shift=0`: {cal}; "
        f"an empty measurement costs {overhead} ticks. SysTick (mod 2^24) agreed with timer 0 on every interval.",
        f"`.text` of the baseline image (harness only): {sizes['baseline']} bytes.",
    ]
    md = "\n".join(body) + "\n"
    print(md, end="")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("# Crypto operations on Cortex-M4 (bench/run.sh)\n\n" + md)

    with open(last_path + ".tmp", "w", encoding="utf-8") as f:
        f.write("# bench/run.sh results, read back by its next run as \"previous\":\n")
        f.write("# operation instructions peak-stack-bytes text-bytes\n")
        f.write(f"date {today}\nsource {source}\nrustc {rustc}\n")
        for op, _, _ in OPS:
            f.write(f"{op} {' '.join(str(v) for v in measured[op])}\n")
    os.replace(last_path + ".tmp", last_path)

    if docs:
        section = [
            SECTION,
            "",
            "Each crypto operation of the crate on a Cortex-M4F (QEMU mps2-an386), built as the board",
            "images are (thumbv7em-none-eabihf, opt-level \"s\", LTO, one codegen unit, panic=abort), from",
            "`bench/m4` with the fixed keys and message of `bench/m4/keys` (made by the OpenSSL CLI).",
            "Instructions: QEMU with `-icount shift=0` (one instruction per ns of virtual time) and a",
            "25 MHz timer read around the call, so one tick is 40 instructions (calibrated below).",
            "Peak stack: the stack the call needs below its caller's frame, by stack painting. `.text`:",
            "an image with only that operation (key parsing included) minus an image with none; code",
            "shared by two operations counts in both rows. Key parsing is not timed. Each result is",
            "checked (the RSA signature equals OpenSSL's, the P-256 one the RFC 6979 signature, both",
            "verifications accept it and reject a corrupted one, the decryption returns the CEK). The",
            "Mbed TLS column is the issue's measurement, for comparison, not measured here. A",
            "benchmark, not run by CI; `bash .ci/footprint` carries this section over unchanged, and",
            "`bash bench/run.sh --rev HEAD --docs` rewrites it.",
            "",
            *body,
        ]
        text = open(docs, encoding="utf-8").read()
        start = text.find("\n" + SECTION + "\n")
        if start < 0:
            new = text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
        else:
            end = text.find("\n## ", start + 1)
            tail = text[end:] if end >= 0 else ""
            new = text[: start + 1] + "\n".join(section) + "\n" + tail
        with open(docs, "w", encoding="utf-8") as f:
            f.write(new)


if __name__ == "__main__":
    main()
