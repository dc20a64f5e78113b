#!/usr/bin/env python3
"""check_events.py RECEIVED COUNT [--duplicates-ok] [--overflow]

Checks the emitter's events (source "emitter") in the fixture's
received.jsonl: every seq 1..COUNT arrived, in order, none invented; each
event has an id, and one seq always carries the same id (duplicates after
a crash are the same event). With --overflow, lost events are allowed when
spool_overflow events account for exactly that many. Prints a summary;
exit 1 on a failed check."""
import json
import sys


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    duplicates_ok = "--duplicates-ok" in sys.argv
    overflow = "--overflow" in sys.argv
    seqs, ids, problems = [], {}, []
    reported_lost = 0
    with open(path) as f:
        for line in f:
            try:
                frame = json.loads(line)
            except ValueError:
                problems.append("not JSON: %r" % line[:80])
                continue
            if frame.get("type") != "audit_event":
                continue
            meta = frame.get("metadata") or {}
            if frame.get("source") == "lens-policy-sync" and meta.get("reason") == "spool_overflow":
                reported_lost += int(meta["dropped"])
                continue
            if frame.get("source") != "emitter":
                continue
            seq = meta.get("seq")
            if not isinstance(frame.get("id"), str) or not frame["id"]:
                problems.append("seq %s without an id" % seq)
            if seq in ids and ids[seq] != frame.get("id"):
                problems.append("seq %s arrived with two ids" % seq)
            ids[seq] = frame.get("id")
            seqs.append(seq)
    first_seen = []
    seen = set()
    for s in seqs:
        if s not in seen:
            seen.add(s)
            first_seen.append(s)
    duplicates = len(seqs) - len(first_seen)
    invented = sorted(s for s in seen if not (isinstance(s, int) and 1 <= s <= count))
    missing = count - len(seen - set(invented))
    if invented:
        problems.append("invented seqs: %s" % invented[:10])
    if first_seen != sorted(first_seen):
        problems.append("out of order")
    if duplicates and not duplicates_ok:
        problems.append("%d duplicates" % duplicates)
    if len(set(ids.values())) != len(ids):
        problems.append("two seqs share an id")
    if overflow:
        if missing != reported_lost:
            problems.append("%d missing but spool_overflow reports %d" % (missing, reported_lost))
        if first_seen and first_seen[-1] != count:
            problems.append("the newest event is missing")
    elif missing:
        problems.append("%d missing" % missing)
    print("received %d events (%d distinct, %d duplicates, %d missing, %d reported lost by spool_overflow)"
          % (len(seqs), len(seen), duplicates, missing, reported_lost))
    for p in problems:
        print("problem: " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
