#!/usr/bin/env python3
"""One power-cut cycle inside user-mode Linux (run by scripts/powercut.sh through scripts/uml/guest-init.sh).

    guest.py --mode MODE --cut N --dir HOSTDIR --results FILE --plugin BIN --node BIN --endpoints JSON [--final]
             [--workers 4] [--seed S]

HOSTDIR (on the host, reached over hostfs) holds this mode's verb journal (journal.jsonl), the agent's log and the
"storm" marker; FILE (on the host too) receives one JSON line per cycle, violation and storm progress.  hostfs writes go straight to the host file (hostfs_write_end calls
the host's pwrite; checked by killing UML right after a write): what this script appends survives the cut.  The
state directory is the ext4 file system on /dev/ubdb, whose unsynced writes the cut loses.

The cycle:
  1. fsck.ext4 -p /dev/ubdb (-y when -p gives up), mount it at the plugin's dataDir (default options:
     data=ordered, commit=5), note zero-length state files;
  2. recovery for the previous cut: the runtime's view comes from the journal (valid = ADD returned success and
     no DEL started); DEL every stale attachment, GC with the valid list, then the agent's reconcile (a fresh
     agent with --reconcile-interval 1 --grace-seconds 1: its second pass is past the grace of what its first saw)
     for three passes;
  3. checks: every valid attachment intact (record present, CHECK with its prevResult passes, its addresses on
     the ENI in EC2), no address recorded for two attachments, no two attachments holding one address in the
     journal's history (each holds its ADD's addresses from its ADD's success to its DEL's start), EC2 holds
     nothing on the ENI that no record owns, no record of a non-valid attachment after GC;
  4. not --final: restart the agent without its reconcile loop, write the "storm" marker and run the storm
     (workers doing ADD / DEL / an occasional GC) until the host cuts the power;
     --final: the drain check (DEL every valid attachment, GC with an empty list, reconcile past the grace: EC2
     holds nothing of ours but the warm pool, the store holds no address), then exit (clean power-off).
Every violation is a results line {"kind": "violation", "class": lost|duplicate|leak|blocking, ...}.
"""
import argparse
import ipaddress
import json
import os
import random
import socket
import subprocess
import threading
import time
import urllib.request

DATA = "/var/lib/cni/eni-multus"
NET = "pc"
SOCK = "/run/eni-multus/agent.sock"
GRACE = 1
WARM = 2

ap = argparse.ArgumentParser()
ap.add_argument("--mode", required=True)
ap.add_argument("--cut", type=int, required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--plugin", required=True)
ap.add_argument("--node", required=True)
ap.add_argument("--endpoints", required=True)
ap.add_argument("--results", required=True)
ap.add_argument("--relay", default="10.254.254.1")
ap.add_argument("--final", action="store_true")
ap.add_argument("--mount-options", default="")
ap.add_argument("--workers", type=int, default=4)
ap.add_argument("--seed", type=int, default=0)
A = ap.parse_args()

MODE = A.mode
EP = json.load(open(A.endpoints))
M = EP["modes"].get(MODE)  # None for plain ranges
rng = random.Random("%d %s %d" % (A.seed, MODE, A.cut))
T0 = time.time()


def log(*a):
    print("[%6.2f] %s %d:" % (time.time() - T0, MODE, A.cut), *a, flush=True)


# ---------------------------------------------------------------------------------------------------- results

_res_lock = threading.Lock()
_res_fd = os.open(A.results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def result(kind, **kw):
    kw.update(kind=kind, mode=MODE, cut=A.cut)
    line = (json.dumps(kw, sort_keys=True) + "\n").encode()
    with _res_lock:
        os.write(_res_fd, line)


violations = 0


def violation(cls, detail):
    global violations
    violations += 1
    log("VIOLATION", cls, detail)
    result("violation", **{"class": cls, "detail": detail})


# ---------------------------------------------------------------------------------------------------- journal

class Journal:
    """The runtime's memory: one JSON line per verb start and end, appended (single write) to a host file."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.seq = 0
        self.entries = []
        if os.path.exists(path):
            for line in open(path, errors="replace"):
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a line torn by the cut (never seen: one pwrite per line)
                self.entries.append(e)
                self.seq = max(self.seq, e.get("s", 0))
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, **kw):
        with self.lock:
            self.seq += 1
            kw.update(s=self.seq, cut=A.cut, t=round(time.time(), 3))
            os.write(self.fd, (json.dumps(kw, sort_keys=True) + "\n").encode())
            self.entries.append(kw)
            return kw

    def attachments(self):
        """id -> {add_start, add_end (seq of a successful ADD's end), addrs, result, add_cut, del_start, del_ok}."""
        att = {}
        for e in self.entries:
            if e.get("op") not in ("ADD", "DEL") or "id" not in e:
                continue
            a = att.setdefault(e["id"], {"id": e["id"]})
            if e["op"] == "ADD" and e["ev"] == "start":
                a["add_start"] = e["s"]
                a["add_cut"] = e["cut"]
            elif e["op"] == "ADD" and e["ev"] == "end":
                if e.get("rc") == 0:
                    a["add_end"] = e["s"]
                    a["addrs"] = e.get("addrs", [])
                    a["result"] = e.get("out")
                else:
                    a["add_failed"] = True
            elif e["op"] == "DEL" and e["ev"] == "start":
                a.setdefault("del_start", e["s"])
            elif e["op"] == "DEL" and e["ev"] == "end" and e.get("rc") == 0:
                a["del_ok"] = True
        for e in self.entries:  # violations already reported for an attachment (not reported again)
            if e.get("op") == "NOTE" and e.get("id") in att:
                att[e["id"]].setdefault("noted", set()).add(e["ev"])
        return att

    def noted_leaks(self):
        return {a for e in self.entries if e.get("op") == "NOTE" and e.get("ev") == "leak" for a in e.get("addrs", [])}


J = Journal(os.path.join(A.dir, "journal.jsonl"))

# ---------------------------------------------------------------------------------------------------- the plugin


def ipam_conf(valid=None):
    ipam = {"type": "eni-multus", "dataDir": DATA}
    if MODE == "ranges":
        ipam["ranges"] = [[{"subnet": "10.77.0.0/20"}]]
    elif MODE == "ranges+eni":
        b = M["base"]
        ipam.update(ranges=[[{"subnet": b + ".0/24", "rangeStart": b + ".64", "rangeEnd": b + ".250"}]],
                    cooldownSeconds=0)
    elif MODE == "ec2":
        ipam.update(mode="ec2", cooldownSeconds=0, reconcileGraceSeconds=300)
    elif MODE == "ec2+warm":
        ipam.update(mode="ec2", cooldownSeconds=0, warmAddresses=WARM, reconcileGraceSeconds=300)
    elif MODE == "prefix":
        ipam.update(mode="prefix", cooldownSeconds=0, prefixReleaseSeconds=0, reconcileGraceSeconds=300)
    conf = {"cniVersion": "1.1.0", "name": NET, "type": "macvlan", "master": "eth9", "mode": "bridge", "ipam": ipam}
    if M:
        conf["eni"] = {"id": M["eni"]}
    if valid is not None:
        conf["cni.dev/valid-attachments"] = [{"containerID": c, "ifname": "net1"} for c in valid]
    return conf


def plugin(verb, cid=None, conf=None, timeout=90):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": verb, "CNI_PATH": "/nonexistent",
           "ENI_MULTUS_AGENT_SOCKET": SOCK}
    if cid:
        env.update(CNI_CONTAINERID=cid, CNI_IFNAME="net1", CNI_NETNS="/var/run/netns/" + cid,
                   CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=pc;K8S_POD_NAME=%s;K8S_POD_UID=uid-%s" % (cid, cid))
    try:
        p = subprocess.run([A.plugin], input=json.dumps(conf or ipam_conf()).encode(), env=env,
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "", "timed out after %ds" % timeout


def addrs_of(out):
    try:
        return [str(ipaddress.ip_interface(i["address"]).ip) for i in json.loads(out).get("ips", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def brief(rc, out, err):
    msg = out.strip() or err.strip()
    return "rc=%s %s" % (rc, msg.replace("\n", " ")[:300])


def do_add(cid, phase):
    J.append(op="ADD", ev="start", id=cid, ph=phase)
    rc, out, err = plugin("ADD", cid)
    addrs = addrs_of(out) if rc == 0 else []
    e = J.append(op="ADD", ev="end", id=cid, ph=phase, rc=rc, addrs=addrs, out=out.strip() if rc == 0 else None,
                 err=None if rc == 0 else brief(rc, out, err))
    return rc, out, err, e


def do_del(cid, phase):
    J.append(op="DEL", ev="start", id=cid, ph=phase)
    rc, out, err = plugin("DEL", cid)
    J.append(op="DEL", ev="end", id=cid, ph=phase, rc=rc, err=None if rc == 0 else brief(rc, out, err))
    return rc, out, err


def do_gc(valid, phase):
    J.append(op="GC", ev="start", ph=phase, valid=len(valid))
    rc, out, err = plugin("GC", conf=ipam_conf(valid=valid))
    J.append(op="GC", ev="end", ph=phase, rc=rc, err=None if rc == 0 else brief(rc, out, err))
    return rc, out, err


# ---------------------------------------------------------------------------------------------------- agent

class Agent:
    def __init__(self, reconcile):
        os.makedirs(os.path.dirname(SOCK), exist_ok=True)
        try:
            os.unlink(SOCK)
        except FileNotFoundError:
            pass
        r = A.relay
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "AWS_ENDPOINT_URL_EC2": "http://%s:%d" % (r, EP["ec2"]),
               "AWS_ENDPOINT_URL_STS": "http://%s:%d" % (r, EP["ec2"]),
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://%s:%d" % (r, M["imds"]),
               "AWS_REGION": EP["region"], "AWS_DEFAULT_REGION": EP["region"],
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_EC2_METADATA_DISABLED": "false", "NO_PROXY": "%s,127.0.0.1,localhost" % r}
        args = [A.node, "agent", "--socket", SOCK, "--data-dir", DATA]
        args += ["--reconcile-interval", "1", "--grace-seconds", str(GRACE)] if reconcile else ["--reconcile-interval", "0"]
        self.logpath = os.path.join(A.dir, "agent.log")
        self.logf = open(self.logpath, "ab")
        self.logf.write(("---- cut %d, %s agent\n" % (A.cut, "reconciling" if reconcile else "storm")).encode())
        self.logf.flush()
        self.start_offset = self.logf.tell()
        self.p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        deadline = time.time() + 30
        while not self.connectable():
            if self.p.poll() is not None:
                raise SystemExit("agent exited at start-up (status %s); see %s" % (self.p.returncode, self.logpath))
            if time.time() > deadline:
                raise SystemExit("agent did not listen within 30 s")
            time.sleep(0.05)

    @staticmethod
    def connectable():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(SOCK)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def passes(self):
        """(time seen, line) of every 'reconcile:' log line since start."""
        with open(self.logpath, "rb") as f:
            f.seek(self.start_offset)
            return [l.decode(errors="replace") for l in f.read().splitlines() if b"reconcile:" in l]

    def wait_reconciled(self):
        """A reconciling agent's first pass runs at its start and records what it finds unowned; every later pass
        starts at least --reconcile-interval (1 s, >= GRACE) after the one before, so the second releases what the
        first saw.  Wait for three passes (a margin), return their lines (None after 60 s)."""
        deadline = time.time() + 60
        while len(self.passes()) < 3:
            if time.time() > deadline or self.p.poll() is not None:
                return None
            time.sleep(0.1)
        return self.passes()

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.logf.close()


# ---------------------------------------------------------------------------------------------------- EC2 and store

def ec2_enis():
    url = "http://%s:%d/_emulator/enis" % (A.relay, EP["control"])
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def ec2_held():
    """(secondary addresses, prefixes) EC2 shows on this mode's ENI (primary excluded)."""
    e = ec2_enis()[M["eni"]]
    ips = [str(ipaddress.ip_address(a)) for a in (e.get("privateIps") or [])]
    primary = str(ipaddress.ip_address(e["privateIp"])) if e.get("privateIp") else (ips[0] if ips else None)
    addrs = [a for a in ips if a != primary] + [str(ipaddress.ip_address(a)) for a in (e.get("ipv6s") or [])]
    prefixes = [str(ipaddress.ip_network(p)) for p in (e.get("ipv4Prefixes") or []) + (e.get("ipv6Prefixes") or [])]
    return addrs, prefixes


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def listdir(path):
    try:
        return sorted(n for n in os.listdir(path) if not n.startswith("."))
    except OSError:
        return []


def norm(a):
    try:
        return str(ipaddress.ip_address(a.strip()))
    except ValueError:
        return None


class Store:
    """What the state directory says (read after recovery)."""

    def __init__(self):
        root = os.path.join(DATA, NET)
        self.root = root
        self.records = {}  # record path (relative) -> owner cid
        self.ip_files = {}  # ips/<address> -> owner cid
        self.owners = {}  # address -> {(kind, owner)}
        self.ledger, self.queued, self.warm, self.prefixes = set(), set(), set(), set()
        self.problems = []
        # attachments/<cid>:<ifname>: one address per line (with or without a prefix length) or key=value lines
        for name in listdir(root + "/attachments"):
            cid = name.rsplit(":", 1)[0]
            text = read(root + "/attachments/" + name) or ""
            self.records["attachments/" + name] = cid
            for a in self.addresses_in(text):
                self.owners.setdefault(a, set()).add(("attachment", cid))
        for name in listdir(root + "/ips"):
            a = norm(name)
            text = (read(root + "/ips/" + name) or "").strip()
            owner = text.split("\n")[0] if text else "<empty file>"
            self.ip_files["ips/" + name] = owner
            if a:
                self.owners.setdefault(a, set()).add(("ip", owner))
        ec2 = root + "/ec2"
        for sub, bucket in (("ledger", self.ledger), ("queue", self.queued), ("warm", self.warm)):
            for name in listdir(ec2 + "/" + sub):
                text = read("%s/%s/%s" % (ec2, sub, name)) or ""
                if M and ("eni=" + M["eni"]) not in text:
                    continue
                addrs = [norm(l[3:]) for l in text.splitlines() if l.startswith("ip=")]
                addrs = [a for a in addrs if a]
                bucket.update(addrs)
                if sub == "ledger":
                    cid = name.rsplit(":", 1)[0]
                    self.records["ec2/ledger/" + name] = cid
                    for a in addrs:
                        self.owners.setdefault(a, set()).add(("ledger", cid))
        for line in (read(ec2 + "/prefixes") or "").splitlines():
            f = line.split()
            p = [x[2:] for x in f if x.startswith("p=")]
            if p and (not M or ("eni=" + M["eni"]) in f):
                try:
                    self.prefixes.add(str(ipaddress.ip_network(p[0])))
                except ValueError:
                    pass

    @staticmethod
    def addresses_in(text):
        out = []
        for line in text.splitlines():
            if line.startswith("ip="):
                try:
                    out.append(str(ipaddress.ip_interface(line[3:].strip()).ip))
                except ValueError:
                    pass
        return out

    def record_of(self, cid):
        return [p for p, c in self.records.items() if c == cid]


def zero_length_files():
    out = []
    for d, _, files in os.walk(DATA):
        for f in files:
            p = os.path.join(d, f)
            try:
                # Empty by design: locks, the reconcile's sightings and the held-prefix list when there are none.
                if os.path.getsize(p) == 0 and not f.endswith("lock") and f not in (".reconcile-seen", "prefixes"):
                    out.append(os.path.relpath(p, DATA))
            except OSError:
                pass
    return sorted(out)


# ---------------------------------------------------------------------------------------------------- phases

def fsck_and_mount():
    p = subprocess.run(["fsck.ext4", "-p", "/dev/ubdb"], capture_output=True, text=True)
    rc, out = p.returncode, (p.stdout + p.stderr).strip()
    if rc & 4:
        q = subprocess.run(["fsck.ext4", "-y", "/dev/ubdb"], capture_output=True, text=True)
        rc, out = q.returncode | 0x100, out + "\n-y: " + (q.stdout + q.stderr).strip()
    os.makedirs(DATA, exist_ok=True)
    subprocess.run(["mount", "-t", "ext4"] + (["-o", A.mount_options] if A.mount_options else []) + ["/dev/ubdb", DATA],
                   check=True)
    opts = [l for l in open("/proc/mounts") if l.startswith("/dev/ubdb ")]
    return rc, out, opts[0].split()[3] if opts else "?"


def journal_duplicates(att, cut):
    """Pairs of attachments holding one address at the same time (each holds its ADD's addresses from the ADD's
    success to its DEL's start), where one of them was added in `cut`'s storm or recovery."""
    holders = {}
    for a in att.values():
        if "add_end" not in a:
            continue
        end = a.get("del_start", float("inf"))
        for ad in a.get("addrs", []):
            holders.setdefault(ad, []).append((a["add_end"], end, a))
    out = []
    for ad, hs in holders.items():
        hs.sort(key=lambda h: h[0])
        for i in range(len(hs)):
            for j in range(i + 1, len(hs)):
                s1, e1, a1 = hs[i]
                s2, e2, a2 = hs[j]
                if max(s1, s2) < min(e1, e2) and cut in (a1.get("add_cut"), a2.get("add_cut")):
                    out.append("%s handed to %s (ADD ok at #%s, cut %s) and %s (ADD ok at #%s, cut %s) at once"
                               % (ad, a1["id"], s1, a1.get("add_cut"), a2["id"], s2, a2.get("add_cut")))
    return out


def check_store_duplicates(st):
    for ad, owners in sorted(st.owners.items()):
        cids = {o for _, o in owners if o != "<empty file>"}
        if len(cids) > 1:
            violation("duplicate", "%s recorded for %s" % (ad, sorted(owners)))


def in_prefixes(a, prefixes):
    ip = ipaddress.ip_address(a)
    return any(ip in ipaddress.ip_network(p) for p in prefixes)


def check_ec2(st, valid, att, when, lost):
    """No leak: what EC2 holds beyond the primary is owned by a record.  Valid attachments' addresses are on the ENI."""
    if not M:
        return
    try:
        addrs, prefixes = ec2_held()
    except Exception as e:  # noqa: BLE001
        violation("leak", "%s: EC2 unreadable: %s" % (when, e))
        return
    owned = st.ledger | st.queued | st.warm
    known = J.noted_leaks()  # reported in an earlier cycle and still there: not reported again
    extra = [a for a in addrs if a not in owned and a not in known]
    if extra:
        J.append(op="NOTE", ev="leak", addrs=extra)
        violation("leak", "%s: EC2 holds %s on %s, owned by no record" % (when, sorted(extra), M["eni"]))
    extra_p = [p for p in prefixes if p not in st.prefixes and p not in known]
    if extra_p:
        J.append(op="NOTE", ev="leak", addrs=extra_p)
        violation("leak", "%s: EC2 holds prefixes %s on %s, not in the held-prefix list" % (when, sorted(extra_p), M["eni"]))
    for cid in valid:
        for a in att[cid].get("addrs", []):
            ok = in_prefixes(a, prefixes) if MODE == "prefix" else a in addrs
            if not ok:
                lost.setdefault(cid, []).append("%s not assigned to %s in EC2 %s" % (a, M["eni"], when))
    return addrs, prefixes


def recovery_and_checks(att):
    valid = sorted(c for c, a in att.items() if "add_end" in a and "del_start" not in a)
    stale = sorted(c for c, a in att.items() if c not in valid and not a.get("del_ok"))
    # The previous storm's history: two attachments holding one address at once.
    for d in journal_duplicates(att, A.cut - 1):
        violation("duplicate", "journal: " + d)
    agent = Agent(reconcile=False) if M else None
    try:
        # Recovery: DEL what the runtime still has to clean up, then GC with its valid list.
        for cid in stale:
            rc, out, err = do_del(cid, "recovery")
            if rc != 0:
                violation("blocking", "DEL of stale %s: %s" % (cid, brief(rc, out, err)))
        rc, out, err = do_gc(valid, "recovery")
        if rc != 0:
            violation("blocking", "GC with %d valid: %s" % (len(valid), brief(rc, out, err)))
        # Then the agent's reconcile, from a fresh agent whose first pass starts after the GC.
        if agent:
            agent.stop()
            agent = Agent(reconcile=True)
            reconcile_passes(agent, "after recovery")
        # Checks.
        st = Store()
        lost = {}  # cid -> what is wrong with it (one violation per attachment)
        for cid in valid:
            a = att[cid]
            if not st.record_of(cid):
                lost.setdefault(cid, []).append("no record")
            prev = json.loads(a["result"]) if a.get("result") else {"cniVersion": "1.1.0", "ips": []}
            conf = ipam_conf()
            conf["prevResult"] = prev
            rc, out, err = plugin("CHECK", cid, conf=conf)
            if rc != 0:
                lost.setdefault(cid, []).append("CHECK fails: " + brief(rc, out, err))
        check_store_duplicates(st)
        for path, cid in sorted(st.records.items()):
            if cid not in valid:
                violation("leak", "after GC, %s (%s) is not a valid attachment's record: %s"
                          % (path, cid, (read(os.path.join(st.root, path)) or "").replace("\n", " ")[:160]))
        for path, owner in sorted(st.ip_files.items()):
            if owner not in valid:
                violation("leak", "after GC, %s is held by %s, not a valid attachment" % (path, owner))
        check_ec2(st, valid, att, "after recovery", lost)
        for cid, why in sorted(lost.items()):
            if "lost" in att[cid].get("noted", ()):
                continue  # reported in an earlier cycle: the attachment stays valid (and broken) until its DEL
            J.append(op="NOTE", ev="lost", id=cid)
            violation("lost", "valid %s %s (ADD ok in cut %s): %s" % (cid, att[cid].get("addrs"), att[cid].get("add_cut"),
                                                                       "; ".join(why)))
    finally:
        if agent:
            agent.stop()
    return valid


# ---------------------------------------------------------------------------------------------------- storm

def storm(valid):
    agent = Agent(reconcile=False) if M else None  # the storm's agent: no reconcile loop (the recovery has its own)
    lock = threading.Lock()
    live = set(valid)  # ADD returned success, no DEL started
    inflight = set()  # ADD started, not ended
    gc_running = [0]  # no ADD starts while a GC runs: its valid list must name every ADD the runtime has begun
    counter = [0]
    verbs = [0]

    def p_del(n):
        return 0.3 if n < 8 else 0.5 if n < 20 else 0.85

    def worker(w):
        r = random.Random(rng.random())
        while True:
            x = r.random()
            with lock:
                n = len(live)
                if x < 0.04:
                    op, cid, gcvalid = "GC", None, sorted(live | inflight)
                    gc_running[0] += 1
                elif live and x < p_del(n):
                    op, cid = "DEL", r.choice(sorted(live))
                    live.discard(cid)
                elif gc_running[0]:
                    op = "wait"
                else:
                    counter[0] += 1
                    op, cid = "ADD", "pc%s-c%d-w%d-%d" % (MODE.replace("+", ""), A.cut, w, counter[0])
                    inflight.add(cid)
            if op == "wait":
                time.sleep(0.02)
                continue
            if op == "GC":
                rc, out, err = do_gc(gcvalid, "storm")
                with lock:
                    gc_running[0] -= 1
            elif op == "DEL":
                rc, out, err = do_del(cid, "storm")
            else:
                rc, out, err, e = do_add(cid, "storm")
                with lock:
                    inflight.discard(cid)
                    if rc == 0:  # two holders of one address: journal_duplicates() at the next recovery
                        live.add(cid)
            verbs[0] += 1
            if rc != 0:
                violation("blocking", "storm %s %s: %s" % (op, cid or "", brief(rc, out, err)))

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(A.workers)]
    seq0 = J.seq
    for t in threads:
        t.start()
    # The marker tells the host the storm has begun (its first verb is in the journal); the host cuts the power
    # 0.3-5 s later.
    while J.seq == seq0:
        time.sleep(0.005)
    with open(os.path.join(A.dir, "storm"), "w") as f:
        f.write("%f\n" % time.time())
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(1)
    log("storm: no power cut within 120 s")
    if agent:
        agent.stop()


# ---------------------------------------------------------------------------------------------------- drain

def reconcile_passes(agent, when):
    lines = agent.wait_reconciled()
    if lines is None:
        violation("blocking", "%s: the agent's reconcile logged no three passes within 60 s" % when)
    else:
        bad = [l.strip() for l in lines if "errors=0" not in l]
        if bad:
            violation("blocking", "%s: reconcile: %s" % (when, bad[0][:300]))


def drain(valid):
    agent = Agent(reconcile=False) if M else None
    try:
        for cid in valid:
            rc, out, err = do_del(cid, "drain")
            if rc != 0:
                violation("blocking", "drain: DEL %s: %s" % (cid, brief(rc, out, err)))
        rc, out, err = do_gc([], "drain")
        if rc != 0:
            violation("blocking", "drain: GC with an empty list: %s" % brief(rc, out, err))
        if agent:
            agent.stop()
            agent = Agent(reconcile=True)
            reconcile_passes(agent, "drain")
        st = Store()
        left = {a: o for a, o in st.owners.items()}
        if left or st.ledger or st.queued:
            violation("leak", "drain: the store still holds %s%s" % (
                sorted((a, sorted(o)) for a, o in left.items())[:10],
                " ledger %s queue %s" % (sorted(st.ledger), sorted(st.queued)) if st.ledger or st.queued else ""))
        if st.records or st.ip_files:
            violation("leak", "drain: records left: %s" % (sorted(st.records) + sorted(st.ip_files))[:10])
        if M:
            addrs, prefixes = ec2_held()
            extra = [a for a in addrs if a not in st.warm]
            if extra or prefixes:
                violation("leak", "drain: EC2 still holds %s prefixes %s on %s" % (sorted(extra), prefixes, M["eni"]))
            if len(st.warm) > WARM:
                violation("leak", "drain: the warm pool holds %s, more than %d" % (sorted(st.warm), WARM))
            stale_warm = [a for a in st.warm if a not in addrs]
            if stale_warm:
                violation("leak", "drain: the warm pool lists %s, which EC2 does not show" % sorted(stale_warm))
    finally:
        if agent:
            agent.stop()


# ---------------------------------------------------------------------------------------------------- main

fsck_rc, fsck_out, mount_opts = fsck_and_mount()
empty = zero_length_files()
replayed = "recovering journal" in fsck_out
log("fsck rc=%d%s; mount %s; %d zero-length files %s" % (
    fsck_rc, " (journal replayed)" if replayed else "", mount_opts, len(empty), empty[:5]))
ATT = J.attachments()
valid = recovery_and_checks(ATT)
result("cycle", fsck_rc=fsck_rc, fsck_out=fsck_out[-600:], journal_replayed=replayed, mount=mount_opts,
       valid=len(valid), empty_files=len(empty), empty_examples=empty[:8], violations=violations,
       seconds=round(time.time() - T0, 1))
log("recovery and checks: %d valid, %d violations, %.1f s" % (len(valid), violations, time.time() - T0))
if A.final:
    drain(valid)
    result("drained", violations=violations)
    subprocess.run(["umount", DATA])
    log("drained: %d violations in total this cycle" % violations)
else:
    storm(valid)
