#!/usr/bin/env python3
"""Print the benchmark table from bench/run.sh's results as Markdown.

Usage: bench/report.py RESULTS_DIR INPUT...
Reads RESULTS_DIR/INPUT.status.tsv and INPUT.rss.tsv (written by bench/run.sh) and
RESULTS_DIR/INPUT.json (hyperfine --export-json).
"""
import json
import os
import platform
import subprocess
import sys

DESCRIPTIONS = {
    "hello": "examples/hello.c against glibc",
    "lua": "Lua 5.4.9 interpreter (liblua.a) against glibc",
    "zstd": "zstd 1.5.7 library (libzstd.a, multithreaded) and a driver",
    "sqlite": "SQLite amalgamation (libsqlite3.a) and a driver",
    "cxx": "C++17 program against libstdc++ (iostream, regex, threads)",
    "big": "Lua, zstd and SQLite in one image (every archive member, -g)",
    "rg": "ripgrep 14.1.1 (Rust, static PIE, full debug information)",
}
ORDER = ["spacer", "spacer+layout", "ld.bfd", "ld.gold", "ld.lld", "mold", "wild"]
# Targets: spacer's time against wild's and mold's, the layout's cost, memory against mold.
TARGETS = {"wild": 1.0, "mold": 0.8}


def read_status(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            parts += [""] * (4 - len(parts))
            rows.append({"linker": parts[0], "status": parts[1], "size": parts[2], "detail": parts[3]})
    return rows


def read_times(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    return {r["command"]: r for r in data["results"]}


def read_rss(path):
    rss = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, kib = line.split()
                rss[name] = int(kib)
    return rss


def fmt_size(s):
    if not s:
        return ""
    n = int(s)
    return f"{n / (1 << 20):.2f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu or platform.machine()}"


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results, inputs = sys.argv[1], sys.argv[2:]
    summary = {}
    linkers_seen = []

    print("# spacer link-time benchmark\n")
    print(f"Machine: {machine()}. Each linker is run directly with the arguments")
    print("that `gcc -static` passes to its linker; times are hyperfine means.\n")

    ratios = {}
    for inp in inputs:
        status = read_status(os.path.join(results, f"{inp}.status.tsv"))
        times = read_times(os.path.join(results, f"{inp}.json"))
        rss = read_rss(os.path.join(results, f"{inp}.rss.tsv"))
        ratios[inp] = (times, rss)
        status.sort(key=lambda r: ORDER.index(r["linker"]) if r["linker"] in ORDER else 99)
        for r in status:
            if r["linker"] not in linkers_seen:
                linkers_seen.append(r["linker"])
        spacer = times.get("spacer")
        print(f"## {inp}: {DESCRIPTIONS.get(inp, '')}\n")
        print("| linker | mean (ms) | σ (ms) | peak RSS | output size | spacer / linker |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in status:
            name = r["linker"]
            t = times.get(name)
            if r["status"] != "ok" or t is None:
                why = r["detail"] if r["status"] != "ok" else "not timed (hyperfine failed)"
                why = why.replace("|", "\\|").strip()
                print(f"| {name} | **{r['status']}**: {why} | | | {fmt_size(r['size'])} | |")
                summary.setdefault(inp, {})[name] = r["status"]
                continue
            ratio = ""
            if spacer is not None and name != "spacer":
                ratio = f"{spacer['mean'] / t['mean']:.2f}"
                summary.setdefault(inp, {})[name] = ratio
            elif name != "spacer":
                summary.setdefault(inp, {})[name] = "n/a"
            mem = f"{rss[name] / 1024:.0f} MiB" if name in rss else ""
            print(
                f"| {name} | {t['mean'] * 1000:.1f} | {t['stddev'] * 1000:.1f} "
                f"| {mem} | {fmt_size(r['size'])} | {ratio} |"
            )
        print()

    others = [l for l in linkers_seen if l != "spacer"]
    if summary and others:
        print("## spacer's time as a fraction of each linker's (lower is faster)\n")
        print("| input | " + " | ".join(f"spacer/{l}" for l in others) + " |")
        print("|---|" + "---:|" * len(others))
        for inp in inputs:
            row = summary.get(inp, {})
            if "spacer" in row:  # spacer itself failed on this input
                cells = [f"spacer {row['spacer']}"] * len(others)
            else:
                cells = [row.get(l, "") for l in others]
            print(f"| {inp} | " + " | ".join(cells) + " |")
        print()

    print("## Targets\n")
    print("spacer's time as a fraction of wild's (target ≤ 1.0) and mold's (target ≤ 0.8), the")
    print("cost of `--layout` with `--page-digests` on a relink (target < 10%), and spacer's peak")
    print("memory against mold's (target ≤ 1.0).\n")
    print("| input | spacer/wild | spacer/mold | layout+digests | RSS spacer/mold |")
    print("|---|---:|---:|---:|---:|")
    for inp in inputs:
        times, rss = ratios[inp]
        sp = times.get("spacer")
        cells = []
        for other in ("wild", "mold"):
            t = times.get(other)
            if sp and t:
                r = sp["mean"] / t["mean"]
                cells.append(f"{r:.2f} {'met' if r <= TARGETS[other] else 'missed'}")
            else:
                cells.append("n/a")
        lay = times.get("spacer+layout")
        if sp and lay:
            o = lay["mean"] / sp["mean"] - 1
            cells.append(f"{o * 100:+.1f}% {'met' if o < 0.10 else 'missed'}")
        else:
            cells.append("n/a")
        if "spacer" in rss and "mold" in rss:
            r = rss["spacer"] / rss["mold"]
            cells.append(f"{r:.2f} {'met' if r <= 1.0 else 'missed'}")
        else:
            cells.append("n/a")
        print(f"| {inp} | " + " | ".join(cells) + " |")
    print()

    notes_path = os.path.join(results, "notes.txt")
    if os.path.exists(notes_path):
        notes = [n for n in open(notes_path).read().splitlines() if n.strip()]
        if notes:
            print("Notes:\n")
            for n in notes:
                print(f"- {n}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
