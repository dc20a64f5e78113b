#!/usr/bin/env python3
"""report.py --csv FILE --report FILE --checks FILE [rules] [--load TEXT]...

Reads the soak's samples (CSV: t_s,phase,daemon,pid,rss_kib,fds,cpu_s),
writes the markdown report (a table of every sample, the verdict per
daemon and the sanity checks), prints the verdict and why it failed, and
exits 1 when a rule or a sanity check failed.

Rules, per daemon (the numbers come from soak.sh, which states them):
  after:  the last "after" sample against the last "baseline" sample:
          fds <= baseline + --fd-margin,
          rss <= baseline + max(--rss-margin-pct % of baseline, --rss-margin-kib);
  steady: the last "steady" sample against the first one: rss and fds grow
          by less than --growth-pct %;
  idle:   between the last two "after" samples the daemon used less than
          --idle-cpu-pct % of one CPU.
The checks file holds lines "ok TEXT" or "FAIL TEXT" from the shell.
"""
import argparse
import csv
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--checks", required=True)
    p.add_argument("--title", default="Soak")
    p.add_argument("--fd-margin", type=int, required=True)
    p.add_argument("--rss-margin-pct", type=float, required=True)
    p.add_argument("--rss-margin-kib", type=int, required=True)
    p.add_argument("--growth-pct", type=float, required=True)
    p.add_argument("--idle-cpu-pct", type=float, required=True)
    p.add_argument("--load", action="append", default=[])
    a = p.parse_args()

    rows = list(csv.DictReader(open(a.csv)))
    daemons = []
    for r in rows:
        if r["daemon"] not in daemons:
            daemons.append(r["daemon"])
        for k in ("rss_kib", "fds"):
            r[k] = int(r[k])
        for k in ("t_s", "cpu_s"):
            r[k] = float(r[k])

    # The table: one line per sample time, three columns per daemon; CPU as
    # the share of one CPU since the previous sample.
    times = []
    for r in rows:
        if not times or times[-1][0] != r["phase"] or abs(times[-1][1] - r["t_s"]) > 2:
            times.append((r["phase"], r["t_s"], {}))
        times[-1][2][r["daemon"]] = r
    previous = {}
    header = ["phase", "t (s)"]
    for d in daemons:
        header += [f"{d} RSS (KiB)", f"{d} fds", f"{d} CPU (%)"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for phase, t, by in times:
        cells = [phase, f"{t:.0f}"]
        for d in daemons:
            r = by.get(d)
            if r is None:
                cells += ["gone", "gone", "-"]
                continue
            prev = previous.get(d)
            cpu = "-"
            if prev is not None and r["t_s"] > prev["t_s"]:
                cpu = f"{100 * (r['cpu_s'] - prev['cpu_s']) / (r['t_s'] - prev['t_s']):.1f}"
            previous[d] = r
            cells += [str(r["rss_kib"]), str(r["fds"]), cpu]
        table.append("| " + " | ".join(cells) + " |")

    failures = []
    verdicts = ["| daemon | baseline RSS / fds | after RSS / fds (allowed) | steady first -> last RSS, fds (growth) | idle CPU after |",
                "|---|---|---|---|---|"]
    for d in daemons:
        mine = [r for r in rows if r["daemon"] == d]
        base = [r for r in mine if r["phase"] == "baseline"]
        steady = [r for r in mine if r["phase"] == "steady"]
        after = [r for r in mine if r["phase"] == "after"]
        if not base or len(steady) < 2 or len(after) < 2:
            failures.append(f"{d}: missing samples (baseline {len(base)}, steady {len(steady)}, after {len(after)}): "
                            "did it die?")
            continue
        b, last = base[-1], after[-1]
        rss_allowed = b["rss_kib"] + max(b["rss_kib"] * a.rss_margin_pct / 100, a.rss_margin_kib)
        fd_allowed = b["fds"] + a.fd_margin
        if last["fds"] > fd_allowed:
            failures.append(f"{d}: {last['fds']} descriptors open {last['t_s']:.0f} s in, after the load; "
                            f"baseline {b['fds']}, at most {fd_allowed} allowed ({last['fds'] - b['fds']} more)")
        if last["rss_kib"] > rss_allowed:
            failures.append(f"{d}: RSS {last['rss_kib']} KiB after the load; baseline {b['rss_kib']} KiB, at most "
                            f"{rss_allowed:.0f} KiB allowed (+{last['rss_kib'] - b['rss_kib']} KiB)")
        s0, s1 = steady[0], steady[-1]
        growth = {}
        for k in ("rss_kib", "fds"):
            growth[k] = 100 * (s1[k] - s0[k]) / max(s0[k], 1)
            if growth[k] >= a.growth_pct:
                failures.append(f"{d}: {k} grew {growth[k]:.1f} % over the steady phase ({s0[k]} at "
                                f"{s0['t_s']:.0f} s -> {s1[k]} at {s1['t_s']:.0f} s; limit {a.growth_pct} %)")
        a0, a1 = after[-2], after[-1]
        idle = 100 * (a1["cpu_s"] - a0["cpu_s"]) / max(a1["t_s"] - a0["t_s"], 0.1)
        if idle >= a.idle_cpu_pct:
            failures.append(f"{d}: {idle:.1f} % of a CPU between {a0['t_s']:.0f} s and {a1['t_s']:.0f} s with "
                            f"no load (limit {a.idle_cpu_pct} %)")
        verdicts.append(f"| {d} | {b['rss_kib']} KiB / {b['fds']} | {last['rss_kib']} KiB ({rss_allowed:.0f}) / "
                        f"{last['fds']} ({fd_allowed}) | {s0['rss_kib']} -> {s1['rss_kib']} KiB "
                        f"({growth['rss_kib']:+.1f} %), {s0['fds']} -> {s1['fds']} ({growth['fds']:+.1f} %) "
                        f"| {idle:.1f} % |")

    checks = [line.rstrip("\n") for line in open(a.checks)]
    failures += [c[5:] for c in checks if c.startswith("FAIL ")]

    out = [f"# {a.title}", "",
           f"Rules: after the load, fds <= baseline + {a.fd_margin} and RSS <= baseline + max({a.rss_margin_pct:g} %, "
           f"{a.rss_margin_kib} KiB); over the steady phase RSS and fds grow by less than {a.growth_pct:g} %; "
           f"after the load each daemon uses less than {a.idle_cpu_pct:g} % of a CPU.", "",
           "## Samples (every 10 s; CPU is the share of one CPU since the previous sample)", ""]
    out += table
    out += ["", "## Per daemon", ""] + verdicts
    out += ["", "## Load", ""] + [f"- {line}" for line in a.load]
    out += ["", "## Checks", ""] + [f"- {c}" for c in checks]
    out += ["", "## Verdict", "", "PASS" if not failures else "FAIL"]
    out += [f"- {f}" for f in failures]
    with open(a.report, "w") as f:
        f.write("\n".join(out) + "\n")

    print("\n".join(table))
    print("\n".join(verdicts))
    if failures:
        print("soak FAILED:")
        for f in failures:
            print("  - " + f)
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
