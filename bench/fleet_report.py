#!/usr/bin/env python3
"""bench/fleet.sh's report: reads bench/out/fleet-<mode>.jsonl (one line per exec, from fleet-driver) and
fleet-<mode>.state.json (the emulator's counts, throttling report, ENIs and IMDS counters after the mode's churn),
prints the table and what it implies for 1,000 nodes, writes bench/out/fleet.json and bench/out/fleet.md."""

import argparse
import json
import math
import os
import time

READ_ONLY = ("Describe", "Get", "List")
# AWS's refill per second of the buckets this plugin spends (the emulator's Throttle.LIMITS at scale 1).
REFILL = {"Assign": 5.0, "Unassign": 5.0, "DescribeNetworkInterfaces": 10.0}
MODE_TITLE = {"ranges": "per-IP (ranges + eni)", "ec2": "ec2", "prefix": "prefix"}


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))
    return v[k]


def ms(us):
    return None if us is None else round(us / 1000, 1)


def load_run(out, run):
    execs = []
    with open(os.path.join(out, f"fleet-{run}.jsonl"), encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                execs.append(json.loads(line))
    with open(os.path.join(out, f"fleet-{run}.state.json")) as f:
        state = json.load(f)
    return execs, state


def summarize(mode, scale, execs, state, nodes, pods):
    adds = [e for e in execs if e["verb"] == "ADD"]
    dels = [e for e in execs if e["verb"] == "DEL"]
    fail = {}
    for e in execs:
        if e["rc"] != 0:
            key = f'{e["verb"]} {e["code"] if e["code"] is not None else "rc" + str(e["rc"])}'
            fail[key] = fail.get(key, 0) + 1
    samples = {}
    for e in execs:
        if e["rc"] != 0:
            key = f'{e["verb"]} {e["code"]}'
            samples.setdefault(key, [])
            if len(samples[key]) < 3 and e["msg"] not in samples[key]:
                samples[key].append(e["msg"])
    span = max((e["t"] + e["us"] / 1e6 for e in execs), default=0.0)
    counts = state["counts"]
    throttle = state["throttle"]
    throttled = throttle.get("throttled", {})
    mutating = {a: n for a, n in counts.items() if not a.startswith(READ_ONLY)}
    describes = {a: n for a, n in counts.items() if a.startswith(READ_ONLY)}
    accepted = {a: n - throttled.get(a, 0) for a, n in mutating.items()}
    acc_total = sum(accepted.values())
    assign = sum(n for a, n in accepted.items() if a.startswith("Assign"))
    unassign = sum(n for a, n in accepted.items() if a.startswith("Unassign"))
    dni = counts.get("DescribeNetworkInterfaces", 0) - throttled.get("DescribeNetworkInterfaces", 0)
    n_add = len(adds)
    held_addr = sum(max(0, len(e.get("privateIps") or []) - 1) for e in state["enis"].values())
    held_pref = sum(len(e.get("ipv4Prefixes") or []) for e in state["enis"].values())
    imds = sum(sum((s.get("counts") or {}).values()) for s in state.get("imds", []))
    return {
        "mode": mode,
        "title": MODE_TITLE[mode],
        "throttleScale": scale,
        "nodes": nodes,
        "podsPerNode": pods,
        "seconds": round(span, 1),
        "adds": n_add,
        "dels": len(dels),
        "addFailures": sum(1 for e in adds if e["rc"] != 0),
        "delFailures": sum(1 for e in dels if e["rc"] != 0),
        "failuresByCode": fail,
        "failureSamples": samples,
        "ec2MutatingCalls": sum(mutating.values()),
        "ec2MutatingAccepted": acc_total,
        "ec2MutatingByAction": mutating,
        "ec2ReadCalls": describes,
        "ec2CallsPerAdd": round(acc_total / n_add, 3) if n_add else None,
        "assignPerAdd": round(assign / n_add, 4) if n_add else None,
        "unassignPerAdd": round(unassign / n_add, 4) if n_add else None,
        "describeENIPerAdd": round(dni / n_add, 4) if n_add else None,
        "throttled": sum(throttled.values()),
        "throttledByAction": throttled,
        "agentThrottleLogLines": state.get("agentThrottleLogLines"),
        "imdsRequests": imds,
        "imdsPerAdd": round(imds / n_add, 1) if n_add else None,
        "addsPerSecondPerNode": round(n_add / span / nodes, 3) if span and nodes else None,
        "addMs": {"p50": ms(pct([e["us"] for e in adds], 50)), "p99": ms(pct([e["us"] for e in adds], 99)),
                  "max": ms(max((e["us"] for e in adds), default=None))},
        "delMs": {"p50": ms(pct([e["us"] for e in dels], 50)), "p99": ms(pct([e["us"] for e in dels], 99)),
                  "max": ms(max((e["us"] for e in dels), default=None))},
        "heldAtEnd": {"secondaryIPv4": held_addr, "ipv4Prefixes": held_pref},
        # ec2TimeoutSeconds (default 10) is documented as the deadline of an ADD's AWS work, 5 s for a DEL's.
        "addsOver10s": sum(1 for e in adds if e["us"] > 10e6),
        "delsOver5s": sum(1 for e in dels if e["us"] > 5e6),
        "failedAddMs": {"p50": ms(pct([e["us"] for e in adds if e["rc"] != 0], 50)),
                        "min": ms(min((e["us"] for e in adds if e["rc"] != 0), default=None))},
    }


def table(rows):
    head = ["mode", "throttle scale", "nodes", "pods/node", "ADDs", "DELs", "failures (verb CNI-code: n)", "EC2 mutating calls",
            "per ADD", "throttled", "ADD p50/p99 ms", "DEL p50/p99 ms"]
    body = []
    for r in rows:
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(r["failuresByCode"].items())) or "0"
        body.append([r["title"], f'{r["throttleScale"]:g}', str(r["nodes"]), str(r["podsPerNode"]), str(r["adds"]), str(r["dels"]), fails,
                     f'{r["ec2MutatingCalls"]} ({r["ec2MutatingAccepted"]} accepted)',
                     f'{r["ec2CallsPerAdd"]}', str(r["throttled"]),
                     f'{r["addMs"]["p50"]} / {r["addMs"]["p99"]}', f'{r["delMs"]["p50"]} / {r["delMs"]["p99"]}'])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    return "\n".join(lines)


def implications(rows, agent_rate, nodes_target=1000):
    """What the per-ADD call counts imply for a fleet of nodes_target nodes (AWS's refill rates, scale 1)."""
    out = []
    full = [r for r in rows if r["throttleScale"] == 1.0] or [r for r in rows if r["throttleScale"] == rows[0]["throttleScale"]]
    for r in full:
        if not r["adds"]:
            continue
        churn = r["addsPerSecondPerNode"] or 0.0
        a, u, d = r["assignPerAdd"], r["unassignPerAdd"], r["describeENIPerAdd"]
        worst = max(a, u)
        need_assign = nodes_target * churn * a
        need_unassign = nodes_target * churn * u
        per_node_min = 60 * REFILL["Assign"] / worst / nodes_target if worst > 0 else None
        s = (f'**{r["title"]}**: {a} Assign and {u} Unassign calls per ADD (and {d} DescribeNetworkInterfaces). '
             f'This run churned {churn} ADDs/s per node (the emulator, not EC2, bounds that rate); '
             f'{nodes_target:,} nodes at that churn would ask {need_assign:.1f} Assign/s and {need_unassign:.1f} Unassign/s '
             f'of the account, {max(need_assign, need_unassign) / REFILL["Assign"]:.1f}x the 5/s refill')
        if d:
            s += f', and {nodes_target * churn * d:.1f} DescribeNetworkInterfaces/s against a 10/s (unfiltered) refill'
        s += ". "
        ref = nodes_target / 60  # one pod start per node per minute
        s += (f'At one pod start per node per minute ({ref:.1f}/s for {nodes_target:,} nodes) it would need '
              f'{ref * a:.1f} Assign/s and {ref * u:.1f} Unassign/s ({ref * worst / REFILL["Assign"]:.2f}x the refill). ')
        if per_node_min is not None:
            s += (f'The 5/s refill sustains {REFILL["Assign"] / worst:.1f} pod starts/s account-wide, i.e. '
                  f'{per_node_min:.2f} pod starts per node per minute across {nodes_target:,} nodes')
            if r["mode"] == "prefix":
                s += (" (prefix mode's calls are per node and per /28, not per pod: in steady state a pod start costs "
                      "no EC2 call, so the limit is on new nodes and prefix growth, not on churn)")
            s += "."
        else:
            s += "No mutating call was made per ADD: churn costs nothing against the limits."
        held = r["heldAtEnd"]
        if r["mode"] == "ec2":
            s += (f' ec2 mode\'s DEL makes no call: an address stays on the ENI through the 30 s cooldown and is released '
                  f'later in batches (up to 64 per call), mostly after a {r["seconds"]:g} s run ends, so its Unassign '
                  f'figure is a lower bound; {held["secondaryIPv4"]} addresses were still on the '
                  f'{r["nodes"]} ENIs at the end ({held["secondaryIPv4"] / r["nodes"]:.0f} per node for '
                  f'{r["podsPerNode"]} pods: what one node holds is its churn x the cooldown).')
        if r["mode"] == "prefix" and held["ipv4Prefixes"]:
            s += (f' The {r["nodes"]} nodes ended holding {held["ipv4Prefixes"]} /28 prefixes '
                  f'({held["ipv4Prefixes"] / r["nodes"]:.1f} per node, {16 * held["ipv4Prefixes"] / r["nodes"]:.0f} '
                  f'addresses, for {r["podsPerNode"]} pods): a released address cools for 30 s and a new prefix is '
                  f'taken rather than a cooling address reused, so what a node holds grows with churn x cooldown, up '
                  f'to the ENI\'s limit, and empty prefixes go back only after 300 s.')
        out.append(s)
    if full:
        n = full[0]["nodes"]
        out.append(f"**Pacing.** Each agent allows itself {agent_rate:g} mutating calls/s per action (--ec2-rate); "
                   f"AWS refills the account's bucket at 5/s per action for all nodes together. {n} agents may ask "
                   f"{n * agent_rate:g}/s ({n * agent_rate / 5:g}x the refill), {nodes_target:,} agents "
                   f"{nodes_target * agent_rate:,.0f}/s: the per-node pacing cannot keep a fleet under the account's "
                   "limit; only each node's halving after a RequestLimitExceeded does, once the limit is hit.")
    for r in rows:
        if r in full or not r["adds"]:
            continue
        base = next((b for b in full if b["mode"] == r["mode"]), None)
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(r["failuresByCode"].items())) or "none"
        s = (f'**{r["title"]} with AWS\'s buckets x {r["throttleScale"]:g}**: {r["throttled"]} calls throttled '
             f'({", ".join(f"{k} {v}" for k, v in sorted(r["throttledByAction"].items())) or "none"}); '
             f'{r["adds"]} ADDs, {r["addFailures"]} failed, {r["delFailures"]} DELs failed (by CNI code: {fails}); '
             f'ADD p50/p99 {r["addMs"]["p50"]}/{r["addMs"]["p99"]} ms')
        if base:
            s += (f' (at scale {base["throttleScale"]:g}: {base["adds"]} ADDs, '
                  f'{base["addMs"]["p50"]}/{base["addMs"]["p99"]} ms)')
        if r["addFailures"]:
            s += f'; failed ADDs returned after {r["failedAddMs"]["p50"]} ms (median; fastest {r["failedAddMs"]["min"]} ms)'
        s += (f'; '
              f'{r["addsOver10s"]} ADDs took longer than 10 s (ec2TimeoutSeconds; the longest {r["addMs"]["max"]} ms) '
              f'and {r["delsOver5s"]} DELs longer than 5 s (the longest {r["delMs"]["max"]} ms)')
        s += (f'; {r["ec2CallsPerAdd"]} accepted mutating calls per ADD; left on the ENIs at the end: '
              f'{r["heldAtEnd"]["secondaryIPv4"]} secondary addresses, {r["heldAtEnd"]["ipv4Prefixes"]} prefixes.')
        out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser()
    for k in ("out", "runs", "cpu", "kernel", "load-before", "load-after", "command"):
        ap.add_argument("--" + k, required=True)
    for k in ("nodes", "pods", "seconds", "nproc", "build-seconds", "total-seconds", "reconcile"):
        ap.add_argument("--" + k, type=float, required=True)
    ap.add_argument("--agent-rate", type=float, required=True)
    ap.add_argument("--agent-burst", type=float, required=True)
    a = ap.parse_args()
    nodes, pods = int(a.nodes), int(a.pods)
    rows = []
    for run in a.runs.split():
        mode, scale = run.split("-s", 1)
        execs, state = load_run(a.out, run)
        rows.append(summarize(mode, float(scale), execs, state, nodes, pods))
    t = table(rows)
    para = implications(rows, a.agent_rate)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{int(a.nproc)} cores, {a.cpu}, kernel {a.kernel}"
    header = (f"{date}; {machine}; load average {a.load_before} before, {a.load_after} after; "
              f"`{a.command}` ({int(a.total_seconds)} s in all, {int(a.build_seconds)} s of it the release build). "
              f"{nodes} nodes x {pods} pods, {int(a.seconds)} s of ADD+DEL per run; the emulator's throttling "
              f"on in every run, AWS's buckets scaled as the table says; agents at --ec2-rate {a.agent_rate:g} --ec2-burst "
              f"{a.agent_burst:g}, --reconcile-interval {a.reconcile:g}. Measured path: eni-multus in its IPAM role "
              "(the address work and the EC2 registration through the node agent; no link: this host's kernel has no "
              "ipvlan and host-device holds one pod per ENI). Latencies are of every exec, failed ones included; "
              "EC2 calls per ADD counts the mutating calls EC2 accepted (DEL's included) over the ADDs.")
    print()
    print(t)
    print()
    for p in para:
        print(p)
        print()
    samples = []
    for r in rows:
        for k, msgs in sorted(r["failureSamples"].items()):
            samples.append(f'- {r["title"]}, scale {r["throttleScale"]:g}, {k}: {msgs[0][:240]}')
    if samples:
        print("Failure messages (the first of each kind):")
        print("\n".join(samples))
    doc = {"date": date, "machine": {"nproc": int(a.nproc), "cpu": a.cpu, "kernel": a.kernel,
                                     "loadBefore": a.load_before, "loadAfter": a.load_after},
           "command": a.command, "nodes": nodes, "podsPerNode": pods, "secondsPerMode": a.seconds,
           "agent": {"ec2Rate": a.agent_rate, "ec2Burst": a.agent_burst,
                                               "reconcileInterval": a.reconcile},
           "buildSeconds": a.build_seconds, "totalSeconds": a.total_seconds,
           "path": "eni-multus in its IPAM role (EC2 registration through the node agent, no link)",
           "modes": rows, "table": t, "implications": para}
    with open(os.path.join(a.out, "fleet.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "fleet.md"), "w") as f:
        f.write(header + "\n\n" + t + "\n\n" + "\n\n".join(para) + "\n")
        if samples:
            f.write("\nFailure messages (the first of each kind):\n\n" + "\n".join(samples) + "\n")


if __name__ == "__main__":
    main()
