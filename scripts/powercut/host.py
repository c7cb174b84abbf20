#!/usr/bin/env python3
"""Host-side helpers of the power-cut campaign (scripts/powercut.sh).

    host.py scenario READY_JSON OUT_JSON     build the EC2 world (run inside the campaign netns)
    host.py summary RESULTS_JSONL MODES...   (the modes' journals beside RESULTS_JSONL) print the per-violation details and the summary line; exit 1 on any
                                             violation or when a mode did not finish

scenario: one instance per EC2 mode, each with one tagged multus ENI (device 1, no_manage=true) in its own /24
(10.0.100.0/24, 10.0.101.0/24, ...; primary address .10), served by its own IMDS server.  OUT_JSON holds the
emulator's ports and, per mode, the ENI id, MAC, subnet base and IMDS port.
"""
import json
import os
import sys
import urllib.request

EC2_MODES = ["ranges+eni", "ec2", "ec2+warm", "prefix"]


def control(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def port(url):
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def scenario(ready_path, out_path):
    ready = json.load(open(ready_path))
    azs = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    instances = []
    for k, _ in enumerate(EC2_MODES):
        instances.append({"name": "node%d" % (k + 1), "subnet": "nodes-" + azs[k], "enis": [
            {"name": "multus%d" % (k + 1), "deviceIndex": 1, "subnet": "multus-" + azs[k],
             "privateIp": "10.0.%d.10" % (100 + k), "tags": {"node.k8s.amazonaws.com/no_manage": "true"}}]})
    w = control(ready["control"], "POST", "/_emulator/scenario", {"azs": azs, "instances": instances})
    out = {"ec2": port(ready["ec2"]), "moto": port(ready["moto"]), "control": port(ready["control"]),
           "region": ready.get("region", "us-east-1"), "modes": {}}
    for k, mode in enumerate(EC2_MODES):
        eni = w["enis"]["multus%d" % (k + 1)]
        inst = w["instances"]["node%d" % (k + 1)]
        out["modes"][mode] = {"eni": eni["id"], "mac": eni["mac"], "base": "10.0.%d" % (100 + k),
                              "imds": port(inst["imds"]), "instance": inst["id"]}
    json.dump(out, open(out_path, "w"), indent=1)
    print(" ".join([str(out["ec2"]), str(out["moto"]), str(out["control"])]
                   + [str(m["imds"]) for m in out["modes"].values()]))


def summary(results_path, modes):
    events = []
    for line in open(results_path, errors="replace"):
        line = line.strip()
        if not line:
            continue
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    classes = ["lost", "duplicate", "leak", "blocking"]
    viol = [e for e in events if e.get("kind") == "violation"]
    cycles = [e for e in events if e.get("kind") == "cycle"]
    cuts = {m: 0 for m in modes}
    for e in events:
        if e.get("kind") == "cut":
            cuts[e["mode"]] = cuts.get(e["mode"], 0) + 1
    drained = {e["mode"] for e in events if e.get("kind") == "drained"}
    valid_checked = sum(e.get("valid", 0) for e in cycles)
    fsck_repairs = sum(1 for e in cycles if e.get("fsck_rc", 0) & 3)
    replays = sum(1 for e in cycles if e.get("journal_replayed"))
    empty_files = sum(e.get("empty_files", 0) for e in cycles)
    # From the journals: storm verbs that completed, and verbs in flight when the power went (started, never ended).
    storm_verbs = inflight = 0
    survived = set()  # attachments valid at one boot at least (ADD ok, no DEL started before the cut)
    for m in modes:
        path = os.path.join(os.path.dirname(results_path), m.replace("+", "_"), "journal.jsonl")
        if not os.path.exists(path):
            continue
        open_, adds = {}, {}
        for line in open(path, errors="replace"):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("op") == "ADD" and e.get("ev") == "end" and e.get("rc") == 0:
                adds[e["id"]] = e["cut"]
            elif e.get("op") == "DEL" and e.get("ev") == "start" and e.get("id") in adds:
                if e["cut"] > adds[e["id"]]:
                    survived.add((m, e["id"]))
                adds.pop(e["id"])
            if e.get("ph") != "storm" or e.get("op") not in ("ADD", "DEL", "GC"):
                continue
            key = (e["op"], e.get("id") or e["cut"])
            if e["ev"] == "start":
                open_[key] = e["cut"]
            else:
                open_.pop(key, None)
                storm_verbs += 1
        inflight += len(open_)
        last_cut = max((e.get("cut", 0) for e in cycles if e.get("mode") == m), default=0)
        survived.update((m, c) for c, k in adds.items() if k < last_cut)
    counts = {c: sum(1 for v in viol if v.get("class") == c) for c in classes}
    by = {}
    for v in viol:
        by.setdefault((v.get("class"), v.get("mode")), []).append(v)
    for (c, m), vs in sorted(by.items()):
        print("  %s [%s]: %d" % (c, m, len(vs)))
        for v in vs[:6]:
            print("    cut %s: %s" % (v.get("cut"), v.get("detail", "")[:400]))
        if len(vs) > 6:
            print("    ... %d more" % (len(vs) - 6))
    for e in cycles:
        if e.get("fsck_rc", 0):
            print("  fsck [%s] cut %s: status %s: %s" % (e["mode"], e["cut"], e["fsck_rc"], e.get("fsck_out", "")[-300:]))
    unfinished = [m for m in modes if m not in drained]
    total = sum(cuts.values())
    print("power-cut campaign: %d cuts (%s), %d valid attachments checked (%d checks), %d lost, %d leaks, %d duplicates,"
          " %d blocking records, fsck repairs %d (journal replays %d), %d zero-length state files at boot (summed over boots),"
          " %d storm verbs completed, %d in flight at the cuts%s" % (
              total, ", ".join("%s %d" % (m, cuts.get(m, 0)) for m in modes), len(survived), valid_checked, counts["lost"],
              counts["leak"], counts["duplicate"], counts["blocking"], fsck_repairs, replays, empty_files,
              storm_verbs, inflight, "; not drained: " + " ".join(unfinished) if unfinished else ""))
    return 1 if viol or unfinished else 0


if __name__ == "__main__":
    if sys.argv[1] == "scenario":
        scenario(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "summary":
        sys.exit(summary(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit("host.py scenario|summary ...")
