#!/usr/bin/env python3
"""Static stack paths of a Cortex-M (thumb) or RISC-V ELF: each function's frame from its
prologue (push/vpush/sub sp; addi sp / lui+sub sp), calls from bl/jal/jalr, and the deepest
call path under the functions whose name contains ROOT. An analysis aid for ports (where
does a board image's stack go?), not a measurement: indirect calls (trait objects, function
pointers) are not followed and recursion is cut, so the painted peak of a real run
(boards/*, fuzz/replay32) is the number to trust; this says which frames make it up.

    python3 bench/stack-paths.py ELF ROOT [LINES]            # deepest path under ROOT
    python3 bench/stack-paths.py ELF ROOT 0 callees          # ROOT's callees by depth
    python3 bench/stack-paths.py ELF x 0 top                 # the 25 deepest functions

Example: python3 bench/stack-paths.py \
    target/boards/thumbv7em-none-eabihf/release/qemu-mps2-an386 identity::run_profile 20
"""

import re, subprocess, sys, glob, functools
elf, root = sys.argv[1], sys.argv[2]
nlines = int(sys.argv[3]) if len(sys.argv) > 3 else 40
objdump = glob.glob(subprocess.check_output(["rustc", "--print", "sysroot"], text=True).strip() + "/lib/rustlib/*/bin/llvm-objdump")[0]
out = subprocess.check_output([objdump, "-d", "--no-show-raw-insn", "-C", elf], text=True, errors="replace")
funcs = {}; order = []; cur = None
fre = re.compile(r"^([0-9a-f]+) <(.*)>:$")
for line in out.splitlines():
    m = fre.match(line)
    if m:
        cur = m.group(2); funcs[cur] = {"frame": 0, "calls": set(), "tails": set(), "n": 0, "done": False}; order.append(cur); continue
    if cur is None or not line.strip(): continue
    f = funcs[cur]; parts = line.split("\t")
    if len(parts) < 2: continue
    ins = parts[1].strip() if len(parts) > 1 else ""
    ops = parts[2].strip() if len(parts) > 2 else ""
    f["n"] += 1
    if f["n"] <= 40 and not f["done"]:
        if ins.startswith("push"):
            f["frame"] += 4 * len(re.findall(r"r\d+|lr|r1[0-2]", ops.split("}")[0]))
        elif ins.startswith("vpush"):
            regs = ops.strip("{}").split(",")
            cnt = 0
            for r in regs:
                r = r.strip()
                mm = re.match(r"d(\d+)-d(\d+)", r)
                cnt += (int(mm.group(2)) - int(mm.group(1)) + 1) if mm else 1
            f["frame"] += 8 * cnt
        elif ins.startswith("sub") and ops.startswith("sp") and "#" in ops:
            mm = re.search(r"#(0x[0-9a-f]+|\d+)", ops)
            if mm: f["frame"] += int(mm.group(1), 0)
        elif ins == "addi" and ops.replace(" ", "").startswith("sp,sp,-"):
            f["frame"] += int(ops.replace(" ", "").split(",")[2][1:], 0)
        elif ins == "lui":
            r, v = [x.strip() for x in ops.split(",")]
            f.setdefault("regs", {})[r] = int(v, 0) << 12
        elif ins == "addi" and ops.split(",")[0].strip() in f.get("regs", {}):
            r, r2, v = [x.strip() for x in ops.split(",")]
            if r == r2: f["regs"][r] += int(v, 0)
        elif ins == "sub" and ops.replace(" ", "").startswith("sp,sp,"):
            r = ops.replace(" ", "").split(",")[2]
            f["frame"] += f.get("regs", {}).get(r, 0)
    m = re.search(r"<([^>]+)>", line)
    if ins in ("jal", "jalr", "call") and m and ("ra" in ops or ins == "jal" or ins == "call"):
        tgt = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
        if tgt != cur or True: f["calls"].add(tgt)
    elif ins in ("jr", "tail", "j") and m and "+0x" not in m.group(1) and m.group(1) != cur:
        f["tails"].add(m.group(1))
    elif ins.startswith("bl") and not ins.startswith("blx") and m:
        tgt = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)); f["calls"].add(tgt)
    elif (ins in ("b.w", "b")) and m:
        tgt = m.group(1)
        if "+0x" not in tgt and tgt != cur: f["tails"].add(tgt)
sys.setrecursionlimit(100000)
memo = {}; onstack = set()
def depth(name):
    if name in memo: return memo[name]
    if name not in funcs or name in onstack: return (0, [])
    onstack.add(name); f = funcs[name]; best = (f["frame"], [name])
    for c in f["calls"]:
        d, p = depth(c)
        if f["frame"] + d > best[0]: best = (f["frame"] + d, [name] + p)
    for c in f["tails"]:
        d, p = depth(c)
        if d > best[0]: best = (d, [name + " (tail)"] + p)
    onstack.discard(name); memo[name] = best; return best
roots = [n for n in order if root in n]
for r in roots[:3]:
    d, p = depth(r)
    print(f"== {r}: {d} bytes")
    acc = 0
    for n in p[:nlines]:
        fr = funcs.get(n.replace(" (tail)", ""), {"frame": 0})["frame"]
        acc += fr
        print(f"{fr:7d} {acc:7d}  {n[:150]}")
if len(sys.argv) > 4 and sys.argv[4] == "top":
    allv = sorted(((depth(n)[0], n) for n in funcs), reverse=True)[:25]
    for d, n in allv: print(d, funcs[n]["frame"], n[:140])
if len(sys.argv) > 4 and sys.argv[4] == "callees":
    for r in roots[:1]:
        f = funcs[r]
        for c in sorted(f["calls"] | f["tails"], key=lambda c: -depth(c)[0])[:15]:
            print(depth(c)[0], c[:140])
