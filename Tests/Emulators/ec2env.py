#!/usr/bin/env python3
"""ec2env: a test EC2 environment on 127.0.0.1 — moto + an IMDSv2 emulator + a fault proxy + a control API.

    python3 Tests/Emulators/ec2env.py [--region us-east-1] [--seed 42] [--scenario JSON|@file]
                                      [--http-tokens required|optional] [--no-stdin-watch] [--ready-file PATH]
                                      [--throttle SCALE]

One process.  moto 5.2.1's WSGI app runs in-process (moto.server's ThreadedMotoServer) on a free port; the other
servers are stdlib ThreadingHTTPServers on free ports.  When everything answers, ONE JSON line is printed on stdout:

    {"ec2": "http://127.0.0.1:P1", "moto": "http://127.0.0.1:P0", "imds": "http://127.0.0.1:P2",
     "control": "http://127.0.0.1:P3", "region": "us-east-1", "accountId": "123456789012", "pid": N}

  ec2      the fault proxy: every request is forwarded to moto unchanged (Authorization included: moto routes by
           the credential scope's service and region), unless a fault rule answers it or the emulator models the
           action itself (WHAT THIS MODELS BEYOND MOTO below).  Point clients here.
  moto     moto itself (no faults, not counted).
  imds     the IMDSv2 emulator of the scenario's first instance (more: POST /_emulator/imds).
  control  the control API (see CONTROL API below).

The process exits when its stdin reaches EOF (the test that started it died or closed the pipe), when its parent
process goes away, or on SIGTERM/SIGINT.  Logs go to stderr.  Nothing binds or connects beyond 127.0.0.1.

CONTROL API (JSON bodies and answers; every path also works with a trailing slash)
  GET  /_emulator/health                      {"ok": true}
  GET  /_emulator/endpoints                   the ready line's object
  POST /_emulator/reset          [{"seed":N}] moto /moto-api/reset + /moto-api/seed, clears faults, counts,
                                              request log, IMDS switches and tokens, registered credentials,
                                              recorded prefixes and limits, throttled counts; throttling goes back
                                              to the command line's setting (off without --throttle)
  POST /_emulator/scenario       {spec}       reset, then build the scenario (see build_scenario); returns ids
  POST /_emulator/fault          {rule}       add a fault rule for the ec2 proxy; returns {"id": N}
        rule: {"action": "AssignPrivateIpAddresses" | null (all), "service": "ec2" | null,
               "mode": "throttle" (503 RequestLimitExceeded) | "error500" (500 InternalError)
                       | "unavailable" (503 Unavailable) | "error" (status/code/message given)
                       | "drop" (close without reply; not forwarded) | "drop-after" (forwarded, reply dropped)
                       | "reset" (TCP RST, not forwarded) | "delay" (forward after delayMs),
               "every": N (fire on every Nth matching call), "count": N (fire on the next N matching calls;
               with every: at most N firings), "delayMs": N (added before any mode), "status", "code", "message"}
        Rules are checked in order; the first that fires answers.  A rule with neither every nor count fires on
        every matching call until cleared.
  DELETE /_emulator/fault  (or POST /_emulator/fault/clear)   remove all rules
  GET  /_emulator/faults                      the rules with their matched/fired counters
  GET  /_emulator/counts                      {"Action": calls received by the ec2 proxy (faulted ones too)}
  POST /_emulator/counts/reset  (or DELETE /_emulator/counts) zero counts, request log and IMDS request counts
  GET  /_emulator/requests[?action=A]         request log: [{seq, action, service, region, accessKeyId, date,
                                              params, status, fault, throttled, signature}]
  POST /_emulator/sigv4   {"verify": bool, "credentials": {"AKID": "secret", …}}
        verify=true: requests must carry a SigV4 Authorization that botocore's SigV4Auth recomputes identically
        with the known secret of the access key → else 403 SignatureDoesNotMatch (401 AuthFailure for an unknown
        key, 403 MissingAuthenticationToken when unsigned; AssumeRoleWithWebIdentity/SAML may be unsigned).
        Known keys: testing/testing, AKIDEXAMPLE/wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, every IMDS role and
        container credential, every credential STS returned through the proxy, and those registered here.
  POST /_emulator/throttle {"enabled": bool, "scale": F, "buckets": {KEY: {"size": N, "refill": R} | null},
                            "default": {"size": N, "refill": R} | null}
        AWS's request-rate throttling of the ec2 proxy (class Throttle), OFF unless enabled here or by --throttle
        SCALE.  One token bucket per action, shared by every caller (AWS keeps them per account and Region), full
        when switched on, refilled continuously; a call that finds its bucket empty is answered 503
        RequestLimitExceeded "Request limit exceeded." (counted in /_emulator/counts and logged with
        "throttled": true, like any other call; it takes no token and reaches neither the fault rules nor the model).
        Checked after the signature check, before the fault rules.  Buckets (size, refill per second):
          AssignPrivateIpAddresses, UnassignPrivateIpAddresses, AssignIpv6Addresses, UnassignIpv6Addresses  100, 5
          DescribeNetworkInterfaces with a Filter.N or paginated (MaxResults/NextToken)                     100, 20
          DescribeNetworkInterfaces otherwise (KEY "DescribeNetworkInterfaces#unfiltered"; NetworkInterfaceId.N
            alone counts as unfiltered here: AWS's "unfiltered and unpaginated" names filters and pagination)  50, 10
          any other action: unlimited unless "default" is given
        scale multiplies every size and refill (a size never below 1 token); "buckets" overrides or (null) removes
        one bucket by KEY; absent keys keep their value; changing anything refills every bucket.  reset restores the
        command line's setting (off without --throttle).  POST /_emulator/counts/reset zeroes the throttled counts.
  GET  /_emulator/throttle                    {"enabled", "scale", "buckets": {KEY: {size, refill}} (scaled),
                                              "tokens": {KEY: tokens now}, "throttled": {Action: calls answered
                                              RequestLimitExceeded}, "admitted": {Action: calls let through}}
  POST /_emulator/limits  {"ipv4PerEni": N|null, "ipv6PerEni": N|null}   per-ENI address limits (absent key: unchanged;
                                              null: unlimited, the default; reset clears them); GET: the current ones
  GET  /_emulator/state                       {"enis": {eni-id: {..., "ipv4Prefixes", "ipv6Prefixes"}}, "instances": …}
  GET  /_emulator/enis                        the "enis" part of /_emulator/state
  GET  /_emulator/imds                        every IMDS server: url, instance, switches, request counts
  POST /_emulator/imds[?instance=i-…]         start another IMDS server; returns {"imds": url, "port": P, …}
  POST /_emulator/imds/config[?imds=PORT|URL] {switches}   (default: the main IMDS) switches:
        instance (id), httpTokens ("required"|"optional"), lagMs, expireTokens (true: invalidate issued tokens
        now), maxTokenTtl (seconds a token lives at most), fail (next N requests answer failStatus),
        failStatus (default 500), delayMs, role (name, or null for no instance profile), credentials
        ({AccessKeyId, SecretAccessKey, Token, expiresInSeconds}), userData (string or null),
        containerToken (the Authorization value /v1/credentials wants)

WHAT THIS MODELS BEYOND MOTO (address assignment; class AddressModel)
  moto 5.2.1 checks almost nothing here: a SecondaryPrivateIpAddressCount picks random addresses checked against the
  same ENI only (collisions with other ENIs and with AWS-reserved addresses), its answer lists ALL of the ENI's
  addresses, prefixes are ignored, AllowReassignment is ignored and an address held by another ENI is duplicated.
  The proxy therefore answers these actions itself, after fault rules and signature checks (so they are counted,
  logged, faulted and verified exactly like any other call), one call at a time.  moto stays the store of ENIs and
  their addresses (the model reads moto, decides, then writes moto with explicit addresses, uncounted); the
  emulator keeps only what moto lacks: IPv4 /28 and IPv6 /80 prefixes per ENI, and the per-ENI limits.
  "In use" below means held by any ENI of the same subnet: as a private IPv4 / IPv6 address, or inside a prefix.
  AssignPrivateIpAddresses (exactly one of PrivateIpAddress.N, SecondaryPrivateIpAddressCount, Ipv4Prefix.N,
      Ipv4PrefixCount; else MissingParameter / InvalidParameterCombination; counts < 1 → InvalidParameterValue)
    - SecondaryPrivateIpAddressCount=N: the N lowest addresses of the subnet not in use and not AWS-reserved
      (network, +1, +2, +3, broadcast); none left → InsufficientFreeAddressesInSubnet.
    - PrivateIpAddress.N: not an IPv4 address / outside the ENI's subnet / AWS-reserved → InvalidParameterValue;
      inside any prefix, or another ENI's primary → InvalidIPAddress.InUse ("Address … is in use"); another ENI's
      secondary without AllowReassignment=true → InvalidParameterValue "[a, …] assigned, but move is not allowed."
      (nothing changes); with it → unassigned from that ENI, then assigned here; already on this ENI → no-op.
    - Ipv4PrefixCount=N: the N lowest aligned /28s of the subnet overlapping no address in use, no reserved address
      and no prefix; none left → InsufficientCidrBlocks.  Ipv4Prefix.N: must be an aligned /28 inside the subnet
      (InvalidParameterValue), overlapping nothing of the above (InvalidIPAddress.InUse); already ours → no-op.
    - The answer lists only what this call assigned (<assignedPrivateIpAddressesSet><item><privateIpAddress>,
      <assignedIpv4PrefixSet><item><ipv4Prefix>): for counts the new ones, for explicit lists the addresses asked for.
    - Limit ipv4PerEni: private IPv4 addresses (primary included) + IPv4 prefixes of the ENI may not exceed it →
      PrivateIpAddressLimitExceeded ("Number of private addresses will exceed limit.").
  UnassignPrivateIpAddresses: an address the ENI does not have → InvalidParameterValue "Some of the specified
      addresses are not assigned to interface eni-…" (nothing changes; the same for a prefix it does not have); its
      primary → InvalidParameterValue; Ipv4Prefix.N removes recorded prefixes.  Answer: <return>true</return>.
  AssignIpv6Addresses (exactly one of Ipv6Addresses.N, Ipv6AddressCount, Ipv6Prefix.N, Ipv6PrefixCount)
    - Ipv6AddressCount=N: the N lowest addresses of the subnet's IPv6 block not in use, skipping its first four
      and its last (mirroring IPv4's reserved addresses; explicit ones there are accepted).
    - Ipv6Addresses.N: in use by another ENI (or in any prefix) → InvalidIPAddress.InUse (IPv6 has no reassignment:
      unassign from the holder first); outside the subnet's block → InvalidParameterValue.
    - Ipv6PrefixCount / Ipv6Prefix.N: /80s, chosen and checked like the IPv4 /28s.  A subnet without an IPv6 block →
      InvalidParameterValue.  Answer: <assignedIpv6Addresses><item>, <assignedIpv6PrefixSet><item> (new ones only).
    - Limit ipv6PerEni: IPv6 addresses + IPv6 prefixes → PrivateIpAddressLimitExceeded.
  UnassignIpv6Addresses: addresses go to moto (ones the ENI lacks are skipped, as moto does); Ipv6Prefix.N removes
      recorded prefixes; the answer lists what went (<unassignedIpv6Addresses>, <unassignedIpv6PrefixSet>).
  DescribeNetworkInterfaces answers carry each ENI's <ipv4PrefixSet><item><ipv4Prefix> / <ipv6PrefixSet><item>
  <ipv6Prefix>; IMDS shows them as ipv4-prefix / ipv6-prefix (with the lagMs propagation lag, like addresses);
  /_emulator/state and /_emulator/enis as ipv4Prefixes / ipv6Prefixes.  Reset and scenario clear prefixes and
  limits (a scenario spec may set "limits"); DeleteNetworkInterface (and any ENI moto no longer has) drops its
  prefixes.  Calls signed for another region than --region go to moto unchanged.
  Not modelled: CreateNetworkInterface / RunInstances addresses (moto's random primary may be AWS-reserved or
  collide; their prefix and secondary-count parameters stay moto's), reserved IPv6 addresses given explicitly
  (accepted), instance-type limits (set them with /_emulator/limits), subnet CIDR reservations, DescribeInstances'
  ENI prefixes, the ipv4-prefix/ipv6-prefix DescribeNetworkInterfaces filters, DryRun, and an Unassign of an IPv6
  address the ENI lacks being an error (EC2's behaviour there is not documented).
  Error codes and element names: element names are botocore's EC2 model (its serializer and parser are what SDKs
  use); PrivateIpAddressLimitExceeded / InsufficientFreeAddressesInSubnet / InsufficientCidrBlocks and the
  "not assigned to interface" text are what EC2 answers in public reports (amazon-vpc-cni-k8s issue #989, its
  ipamd's error constants, clients matching the unassign text); for an explicit secondary held elsewhere EC2
  answers InvalidParameterValue, not InvalidIPAddress.InUse (OpenStack ec2-api notes: "AWS returns
  InvalidIPAddress.InUse for a primary IP address, but InvalidParameterValue for secondary one"), and
  InvalidIPAddress.InUse ("Address … is in use.") is what EC2 returns for an explicit address it cannot give.

IMDS paths: PUT /latest/api/token; GET /latest/meta-data/…, /latest/dynamic/instance-identity/document,
/latest/user-data, and GET /v1/credentials (an EKS Pod Identity-style container-credentials endpoint: Authorization
header must equal containerToken; use with AWS_CONTAINER_CREDENTIALS_FULL_URI=<imds>/v1/credentials).
"""

import os as _os

# A test process spawns this while other tests hold pipes open; whatever of theirs leaked into us (a spawner that
# does not close descriptors) would keep their readers from ever seeing end-of-file for as long as we run.
_os.closerange(3, 65536)

import argparse
import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

LOOPBACK = "127.0.0.1"
ACCOUNT_ID = "123456789012"
DEFAULT_AMI = "ami-0e5c7a5f3c3ab0e01"
NO_MANAGE_TAG = "node.k8s.amazonaws.com/no_manage"

# Never route our own (or anything's) loopback traffic through a proxy from the environment.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
for _k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_k, None)
# Our own boto3 clients use explicit endpoints and credentials; keep config files and endpoint overrides out.
for _k in list(os.environ):
    if _k.startswith("AWS_"):
        os.environ.pop(_k, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
# moto: no default AMI catalogue (RunInstances accepts any image id without it) — saves ~0.5 s at start-up.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def _speed_up_botocore_loader():
    """moto's EC2 module asks botocore for region lists ~11 times at import, each re-reading endpoints.json
    through a fresh loader (~0.7 s).  Memoise JSON file loads process-wide (read-only data)."""
    import botocore.loaders

    orig = botocore.loaders.JSONFileLoader.load_file
    cache = {}
    lock = threading.Lock()

    def load_file(self, file_path, *a, **kw):
        key = (file_path, a, tuple(sorted(kw.items())))
        with lock:
            if key in cache:
                return cache[key]
        value = orig(self, file_path, *a, **kw)
        with lock:
            cache[key] = value
        return value

    botocore.loaders.JSONFileLoader.load_file = load_file


log = logging.getLogger("ec2env")


def now_iso(t=None):
    return datetime.fromtimestamp(t if t is not None else time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_error_xml(code, message):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()


# ------------------------------------------------------------------------------------------------ HTTP plumbing


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, handler, port=0, **attrs):
        for k, v in attrs.items():
            setattr(self, k, v)
        super().__init__((LOOPBACK, port), handler)

    @property
    def url(self):
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        return self


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ec2env"
    sys_version = ""
    # Headers and body go out in separate writes: with Nagle on, the body waits for the client's delayed ACK
    # (40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet: our own log lines go to stderr via `log`
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def reply(self, status, body=b"", ctype="text/plain", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status, obj):
        self.reply(status, json.dumps(obj, indent=1, sort_keys=True) + "\n", "application/json")

    def drop(self, rst=False):
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------ SigV4


AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request"
    r"\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-f]+)"
)


def parse_authorization(value):
    m = AUTH_RE.match((value or "").strip())
    return m.groupdict() if m else None


def verify_sigv4(method, raw_path, headers, body, auth, secret, token=None):
    """Recompute the signature with botocore's SigV4Auth (its canonicalisation, not ours) and compare."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = auth["signed"].split(";")
    hmap = {}
    for name in signed:
        vals = headers.get_all(name) or []
        if not vals:
            return False, f"signed header {name} missing"
        hmap[name] = ",".join(vals)
    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        return False, "no X-Amz-Date"
    host = headers.get("Host", "")

    class Signer(SigV4Auth):
        def headers_to_sign(self, request):  # exactly the client's SignedHeaders
            from botocore.awsrequest import HTTPHeaders

            hm = HTTPHeaders()
            for k, v in hmap.items():
                hm[k.lower()] = v
            return hm

    req = AWSRequest(method=method, url=f"http://{host}{raw_path}", headers=dict(hmap), data=body)
    req.context["timestamp"] = amz_date
    signer = Signer(Credentials(auth["akid"], secret, token), auth["service"], auth["region"])
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    expected = signer.signature(sts, req)
    if amz_date[:8] != auth["date"]:
        return False, "credential scope date differs from X-Amz-Date"
    return hmac.compare_digest(expected, auth["sig"]), "ok"


# ------------------------------------------------------------------------------------------------ the environment


class Env:
    def __init__(self, region, seed, http_tokens, throttle_scale=None):
        self.region = region
        self.seed = seed
        self.default_http_tokens = http_tokens
        self.lock = threading.RLock()
        self.rules = []
        self.rule_seq = 0
        self.counts = {}
        self.requests = []
        self.req_seq = 0
        self.verify = False
        self.static_keys = {"testing": "testing", "AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
        self.extra_keys = {}
        self.sts_keys = {}
        self.imds = []  # ImdsServer list; [0] is the main one
        self.tracker = {}  # (eni, family, addr) -> [present, since]
        self.tracking = False
        self.scenario_result = None
        self.addresses = AddressModel(self)
        self.throttle = Throttle(self.lock, throttle_scale)
        # IMDS renders from moto's state; what it fetched is kept until anything may have changed it (a mutating
        # call through the proxy, any control-API write). Only tests' direct writes to moto would go unseen, and
        # no test writes to moto directly.
        self.generation = 0
        self.view_cache = {}

    def changed(self):
        with self.lock:
            self.generation += 1
            self.view_cache.clear()

    # ---- moto
    def start_moto(self):
        _speed_up_botocore_loader()
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto = ThreadedMotoServer(LOOPBACK, 0, verbose=False)
        self.moto.start()
        self.moto_port = self.moto.get_host_and_port()[1]
        self.moto_url = f"http://{LOOPBACK}:{self.moto_port}"
        import boto3
        from botocore.config import Config

        self.ec2 = boto3.session.Session().client(
            "ec2",
            region_name=self.region,
            endpoint_url=self.moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    def moto_post(self, path):
        c = http.client.HTTPConnection(LOOPBACK, self.moto_port, timeout=30)
        c.request("POST", path, body=b"")
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def reset(self, seed=None):
        with self.lock:
            self.moto_post("/moto-api/reset")
            self.moto_post(f"/moto-api/seed?a={int(self.seed if seed is None else seed)}")
            self.rules = []
            self.counts = {}
            self.requests = []
            self.req_seq = 0
            self.verify = False
            self.extra_keys = {}
            self.sts_keys = {}
            self.tracker = {}
            self.tracking = False
            self.scenario_result = None
            self.addresses.clear()
            self.throttle.clear()
            for s in self.imds:
                s.state.reset(self.default_http_tokens)
            self.ec2.describe_vpcs()  # re-creates the region's backend (default VPC) now, not on a first test call

    def known_secret(self, akid):
        with self.lock:
            if akid in self.extra_keys:
                return self.extra_keys[akid]
            if akid in self.sts_keys:
                return self.sts_keys[akid]
            for s in self.imds:
                s.state.role_credentials(peek=True)
                if akid in s.state.issued:
                    return s.state.issued[akid]
                c = s.state.container_credentials()
                if c["AccessKeyId"] == akid:
                    return c["SecretAccessKey"]
            return self.static_keys.get(akid)

    # ---- fault rules
    def add_rule(self, spec):
        mode = spec.get("mode", "throttle")
        if mode not in ("throttle", "error500", "unavailable", "error", "drop", "drop-after", "reset", "delay"):
            raise ValueError(f"unknown mode {mode}")
        with self.lock:
            self.rule_seq += 1
            rule = {
                "id": self.rule_seq,
                "action": spec.get("action"),
                "service": spec.get("service"),
                "mode": mode,
                "every": spec.get("every"),
                "count": spec.get("count"),
                "delayMs": spec.get("delayMs") or 0,
                "status": spec.get("status"),
                "code": spec.get("code"),
                "message": spec.get("message"),
                "matched": 0,
                "fired": 0,
            }
            for k in ("every", "count"):
                if rule[k] is not None and (not isinstance(rule[k], int) or rule[k] < 1):
                    raise ValueError(f"{k} must be a positive integer")
            self.rules.append(rule)
            return rule["id"]

    def pick_rule(self, service, action):
        with self.lock:
            for r in self.rules:
                if r["action"] not in (None, "", "*") and r["action"] != action:
                    continue
                if r["service"] and r["service"] != service:
                    continue
                if r["count"] is not None and r["fired"] >= r["count"]:
                    continue
                r["matched"] += 1
                if r["every"] and r["matched"] % r["every"] != 0:
                    continue
                r["fired"] += 1
                return dict(r)
        return None

    # ---- address propagation tracking (IMDS lag)
    def enable_tracking(self):
        with self.lock:
            if self.tracking:
                return
            self.tracking = True
        self.observe(baseline=True)

    def observe(self, enis=None, baseline=False):
        """Record when each address appeared on / left each ENI.  Called after every mutating call through the
        proxy, and by IMDS reads (changes made straight against moto are dated from the first IMDS read)."""
        if not self.tracking:
            return
        if enis is None:
            enis = self.ec2.describe_network_interfaces()["NetworkInterfaces"]
        t = 0.0 if baseline else time.time()
        with self.lock:
            for e in enis:
                eid = e["NetworkInterfaceId"]
                cur = {("4", a["PrivateIpAddress"]) for a in e.get("PrivateIpAddresses", [])}
                cur |= {("6", a["Ipv6Address"]) for a in e.get("Ipv6Addresses", [])}
                cur |= {("p4", p) for p in self.addresses.of(eid, "4")}
                cur |= {("p6", p) for p in self.addresses.of(eid, "6")}
                for fam, addr in cur:
                    st = self.tracker.get((eid, fam, addr))
                    if st is None or not st[0]:
                        self.tracker[(eid, fam, addr)] = [True, t]
                for (te, fam, addr), st in list(self.tracker.items()):
                    if te == eid and st[0] and (fam, addr) not in cur:
                        self.tracker[(te, fam, addr)] = [False, t]

    def visible(self, eni_id, fam, addrs_now, lag_ms, primary=None):
        """The addresses IMDS shows with propagation lag: new ones after lag, removed ones until lag passes."""
        if lag_ms <= 0 or not self.tracking:
            return addrs_now
        now = time.time()
        lag = lag_ms / 1000.0
        out = []
        with self.lock:
            for a in addrs_now:
                st = self.tracker.get((eni_id, fam, a))
                if a == primary or st is None or not st[0] or now - st[1] >= lag:
                    out.append(a)
            for (te, f, a), st in self.tracker.items():
                if te == eni_id and f == fam and not st[0] and now - st[1] < lag and a not in out:
                    out.append(a)
        return out

    # ---- state dumps
    def state(self):
        enis = {}
        listed = self.ec2.describe_network_interfaces()["NetworkInterfaces"]
        self.addresses.prune({e["NetworkInterfaceId"] for e in listed})
        for e in listed:
            att = e.get("Attachment") or {}
            ips = [a["PrivateIpAddress"] for a in e.get("PrivateIpAddresses", []) if a.get("Primary")]
            ips += [a["PrivateIpAddress"] for a in e.get("PrivateIpAddresses", []) if not a.get("Primary")]
            enis[e["NetworkInterfaceId"]] = {
                "mac": e.get("MacAddress"),
                "subnetId": e.get("SubnetId"),
                "vpcId": e.get("VpcId"),
                "availabilityZone": e.get("AvailabilityZone"),
                "status": e.get("Status"),
                "description": e.get("Description", ""),
                "instanceId": att.get("InstanceId"),
                "deviceIndex": att.get("DeviceIndex"),
                "attachmentId": att.get("AttachmentId"),
                "deleteOnTermination": att.get("DeleteOnTermination"),
                "sourceDestCheck": e.get("SourceDestCheck"),
                "primaryIp": e.get("PrivateIpAddress"),
                "privateIps": ips,
                "ipv6s": [a["Ipv6Address"] for a in e.get("Ipv6Addresses", [])],
                "ipv4Prefixes": self.addresses.of(e["NetworkInterfaceId"], "4"),
                "ipv6Prefixes": self.addresses.of(e["NetworkInterfaceId"], "6"),
                "groups": [g["GroupId"] for g in e.get("Groups", [])],
                "tags": {t["Key"]: t["Value"] for t in e.get("TagSet", [])},
            }
        instances = {}
        for r in self.ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                instances[i["InstanceId"]] = {
                    "type": i.get("InstanceType"),
                    "state": (i.get("State") or {}).get("Name"),
                    "availabilityZone": (i.get("Placement") or {}).get("AvailabilityZone"),
                    "privateIp": i.get("PrivateIpAddress"),
                    "subnetId": i.get("SubnetId"),
                    "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])},
                }
        return {"enis": enis, "instances": instances}

    # ---- IMDS servers
    def new_imds(self, instance=None):
        with self.lock:
            s = Server(ImdsHandler, 0, env=self, state=ImdsState(self, self.default_http_tokens)).start()
            s.state.instance = instance
            self.imds.append(s)
            return s

    def find_imds(self, ref):
        with self.lock:
            if ref in (None, "", "0", "main"):
                return self.imds[0]
            ref = str(ref)
            for s in self.imds:
                if ref in (str(s.port), s.url, s.url + "/", s.state.instance):
                    return s
        raise KeyError(f"no IMDS server {ref}")

    # ---- scenario
    def build_scenario(self, spec):
        """Reset, then create a VPC world.  spec (all optional):
          seed: N; vpcCidr: "10.0.0.0/16"; ipv6: true (VPC gets an Amazon /56, subnets /64s of it);
          azs: ["<region>a", "<region>b"]  — default subnets per AZ: nodes-<az> 10.0.<i>.0/24 and
               multus-<az> 10.0.<100+i>.0/24 (IPv6 /64 #2i and #2i+1 of the VPC block)
          subnets: [{name, cidr, az, ipv6: bool, tags: {}}]  — replaces the default subnets
          securityGroups: [{name, description}]  — default: nodes, multus
          instances: [{name, type: "m5.large", subnet: name|id (default first subnet), securityGroups: [..],
                       privateIp, tags: {}, enis: [{name, subnet, deviceIndex, networkCardIndex, tags: {},
                       securityGroups, description, privateIp, secondaryIps: N, ipv6Count: N, sourceDestCheck}]}]
             default: node1 (m5.large in nodes-<az0>) with "multus" (multus-<az0>, device 1, tagged
             node.k8s.amazonaws.com/no_manage=true) and "untagged" (multus-<az0>, device 2, no tags)
          enis: [{...as above without deviceIndex}]  — created unattached (status available)
          role: IMDS role name for every instance; httpTokens: "required"|"optional"
          limits: {"ipv4PerEni": N, "ipv6PerEni": N} (see POST /_emulator/limits)
        Instance k is served by IMDS server k (server 0 is the main "imds" URL; more are started as needed and
        kept across resets, so their URLs stay valid)."""
        self.reset(spec.get("seed"))
        if spec.get("limits"):
            self.addresses.set_limits(spec["limits"])
        ec2 = self.ec2
        region = self.region
        azs = spec.get("azs") or [region + "a", region + "b"]
        want6 = spec.get("ipv6", True)
        tagspec = lambda rtype, tags: (
            [{"ResourceType": rtype, "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}] if tags else []
        )
        vpc = ec2.create_vpc(
            CidrBlock=spec.get("vpcCidr", "10.0.0.0/16"),
            AmazonProvidedIpv6CidrBlock=bool(want6),
            TagSpecifications=tagspec("vpc", {"Name": "eni-multus-test"}),
        )["Vpc"]
        vpc6 = (vpc.get("Ipv6CidrBlockAssociationSet") or [{}])[0].get("Ipv6CidrBlock")
        v6subnets = ipaddress.ip_network(vpc6).subnets(new_prefix=64) if vpc6 else None
        net4 = ipaddress.ip_network(vpc["CidrBlock"])
        subspecs = spec.get("subnets")
        if not subspecs:
            subspecs = []
            base = list(net4.subnets(new_prefix=24))
            for i, az in enumerate(azs):
                subspecs.append({"name": f"nodes-{az}", "cidr": str(base[i]), "az": az})
                subspecs.append({"name": f"multus-{az}", "cidr": str(base[100 + i]), "az": az})
        out = {
            "region": region,
            "accountId": ACCOUNT_ID,
            "vpc": {"id": vpc["VpcId"], "cidr": vpc["CidrBlock"], "ipv6Cidr": vpc6},
            "subnets": {},
            "securityGroups": {},
            "instances": {},
            "enis": {},
        }
        for s in subspecs:
            kw = dict(VpcId=vpc["VpcId"], CidrBlock=s["cidr"], AvailabilityZone=s.get("az", azs[0]))
            if v6subnets is not None and s.get("ipv6", True):
                kw["Ipv6CidrBlock"] = str(next(v6subnets))
            tags = dict(s.get("tags") or {})
            tags.setdefault("Name", s["name"])
            kw["TagSpecifications"] = tagspec("subnet", tags)
            sn = ec2.create_subnet(**kw)["Subnet"]
            out["subnets"][s["name"]] = {
                "id": sn["SubnetId"],
                "cidr": sn["CidrBlock"],
                "ipv6Cidr": kw.get("Ipv6CidrBlock"),
                "az": sn["AvailabilityZone"],
            }
        for g in spec.get("securityGroups") or [{"name": "nodes"}, {"name": "multus"}]:
            sg = ec2.create_security_group(
                GroupName=g["name"], Description=g.get("description", g["name"]), VpcId=vpc["VpcId"]
            )
            out["securityGroups"][g["name"]] = sg["GroupId"]

        def subnet_id(ref):
            if ref in out["subnets"]:
                return out["subnets"][ref]["id"]
            return ref

        def sg_ids(refs):
            return [out["securityGroups"].get(r, r) for r in refs]

        first_subnet = next(iter(out["subnets"]))
        multus_default = f"multus-{azs[0]}" if f"multus-{azs[0]}" in out["subnets"] else first_subnet
        nodes_default = f"nodes-{azs[0]}" if f"nodes-{azs[0]}" in out["subnets"] else first_subnet

        def make_eni(e, default_subnet):
            kw = dict(SubnetId=subnet_id(e.get("subnet", default_subnet)), Description=e.get("description", ""))
            if e.get("securityGroups", ["multus"]):
                kw["Groups"] = sg_ids(e.get("securityGroups", ["multus"]))
            if e.get("privateIp"):
                kw["PrivateIpAddress"] = e["privateIp"]
            if e.get("secondaryIps"):
                kw["SecondaryPrivateIpAddressCount"] = int(e["secondaryIps"])
            if e.get("ipv6Count"):
                kw["Ipv6AddressCount"] = int(e["ipv6Count"])
            tags = e.get("tags") or {}
            if tags:
                kw["TagSpecifications"] = tagspec("network-interface", tags)
            eni = ec2.create_network_interface(**kw)["NetworkInterface"]
            if e.get("sourceDestCheck") is False:
                ec2.modify_network_interface_attribute(
                    NetworkInterfaceId=eni["NetworkInterfaceId"], SourceDestCheck={"Value": False}
                )
            return eni

        def eni_out(eni, device_index=None, instance_id=None):
            return {
                "id": eni["NetworkInterfaceId"],
                "mac": eni["MacAddress"],
                "subnetId": eni["SubnetId"],
                "privateIp": eni["PrivateIpAddress"],
                "deviceIndex": device_index,
                "instanceId": instance_id,
                "tags": {t["Key"]: t["Value"] for t in eni.get("TagSet", [])},
            }

        inst_specs = spec.get("instances")
        if inst_specs is None:
            inst_specs = [
                {
                    "name": "node1",
                    "enis": [
                        {"name": "multus", "deviceIndex": 1, "tags": {NO_MANAGE_TAG: "true"}},
                        {"name": "untagged", "deviceIndex": 2},
                    ],
                }
            ]
        for k, ispec in enumerate(inst_specs):
            name = ispec.get("name", f"node{k + 1}")
            sid = subnet_id(ispec.get("subnet", nodes_default))
            tags = dict(ispec.get("tags") or {})
            tags.setdefault("Name", name)
            kw = dict(
                ImageId=ispec.get("imageId", DEFAULT_AMI),
                InstanceType=ispec.get("type", "m5.large"),
                MinCount=1,
                MaxCount=1,
                SubnetId=sid,
                SecurityGroupIds=sg_ids(ispec.get("securityGroups", ["nodes"])),
                TagSpecifications=tagspec("instance", tags),
            )
            if ispec.get("privateIp"):
                kw["PrivateIpAddress"] = ispec["privateIp"]
            inst = ec2.run_instances(**kw)["Instances"][0]
            iid = inst["InstanceId"]
            primary = inst["NetworkInterfaces"][0]
            pe = ec2.describe_network_interfaces(NetworkInterfaceIds=[primary["NetworkInterfaceId"]])[
                "NetworkInterfaces"
            ][0]
            io = {
                "id": iid,
                "type": inst["InstanceType"],
                "az": inst["Placement"]["AvailabilityZone"],
                "subnetId": sid,
                "privateIp": inst["PrivateIpAddress"],
                "mac": pe["MacAddress"],
                "enis": {"primary": eni_out(pe, 0, iid)},
            }
            for j, e in enumerate(ispec.get("enis") or []):
                eni = make_eni(e, multus_default)
                dev = int(e.get("deviceIndex", j + 1))
                akw = dict(NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=iid, DeviceIndex=dev)
                if e.get("networkCardIndex") is not None:
                    akw["NetworkCardIndex"] = int(e["networkCardIndex"])
                ec2.attach_network_interface(**akw)
                eo = eni_out(eni, dev, iid)
                ename = e.get("name", f"{name}-eni{dev}")
                io["enis"][ename] = eo
                out["enis"][ename if ename not in out["enis"] else f"{name}/{ename}"] = eo
            # IMDS server k speaks for instance k.
            while len(self.imds) <= k:
                self.new_imds()
            srv = self.imds[k]
            srv.state.instance = iid
            if "role" in spec:
                srv.state.role = spec["role"]
            if spec.get("httpTokens"):
                srv.state.http_tokens = spec["httpTokens"]
            io["imds"] = srv.url
            out["instances"][name] = io
        for e in spec.get("enis") or []:
            eni = make_eni(e, multus_default)
            out["enis"][e.get("name", eni["NetworkInterfaceId"])] = eni_out(eni)
        with self.lock:
            self.scenario_result = out
        return out


# ------------------------------------------------------------------------------------------------ addresses beyond moto

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
XML_TYPE = [("Content-Type", "text/xml;charset=UTF-8")]


class Ec2Error(Exception):
    """An EC2 error answer (HTTP 400 unless told) produced by the AddressModel."""

    def __init__(self, code, message, status=400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class Passthrough(Exception):
    """Not ours to decide (unknown ENI, missing id, …): forward the request to moto unchanged."""


def qparam(params, name):
    v = params.get(name)
    return v[0] if v else None


def qlist(params, name):
    """NAME.1, NAME.2, … in index order (the EC2 query encoding of a list), duplicates dropped."""
    found = []
    for k, v in params.items():
        m = re.fullmatch(re.escape(name) + r"\.(\d+)", k)
        if m and v:
            found.append((int(m.group(1)), v[0].strip()))
    out = []
    for _, v in sorted(found):
        if v not in out:
            out.append(v)
    return out


def positive(value, name):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Ec2Error("InvalidParameterValue", f"Value ({value}) for parameter {name} is invalid.") from None
    if n < 1:
        raise Ec2Error("InvalidParameterValue",
                       f"Value ({n}) for parameter {name} is invalid. Value must be a positive number.")
    return n


def xml_items(values, inner=None):
    if inner:
        return "".join(f"<item><{inner}>{escape(v)}</{inner}></item>" for v in values)
    return "".join(f"<item>{escape(v)}</item>" for v in values)


def xml_set(name, values, inner=None):
    return f"<{name}>{xml_items(values, inner)}</{name}>" if values else f"<{name}/>"


def ec2_answer(action, inner):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{EC2_NS}">'
            f"<requestId>{uuid.uuid4()}</requestId>{inner}</{action}Response>")
    return 200, XML_TYPE, body.encode()


class SubnetView:
    """One subnet as the address model sees it: its CIDRs and who holds which address or prefix in it."""

    def __init__(self, subnet, enis, prefixes):
        self.id = subnet["SubnetId"]
        self.v4 = ipaddress.ip_network(subnet["CidrBlock"])
        # (moto 5.2.1 renders the state as "{'State': 'associated'}": look for "disassociat" only.)
        v6 = [a["Ipv6CidrBlock"] for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
              if a.get("Ipv6CidrBlock") and "disassociat" not in str((a.get("Ipv6CidrBlockState") or {}).get("State"))]
        self.v6 = ipaddress.ip_network(v6[0]) if v6 else None
        self.v4_holder = {}  # IPv4Address -> (eni id, primary)
        self.v6_holder = {}  # IPv6Address -> eni id
        self.p4 = {}  # IPv4Network -> eni id
        self.p6 = {}  # IPv6Network -> eni id
        for e in enis:
            eid = e["NetworkInterfaceId"]
            for a in e.get("PrivateIpAddresses", []):
                self.v4_holder[ipaddress.ip_address(a["PrivateIpAddress"])] = (eid, bool(a.get("Primary")))
            for a in e.get("Ipv6Addresses", []):
                self.v6_holder[ipaddress.ip_address(a["Ipv6Address"])] = eid
            for p in prefixes.get(eid, {}).get("4", []):
                self.p4[ipaddress.ip_network(p)] = eid
            for p in prefixes.get(eid, {}).get("6", []):
                self.p6[ipaddress.ip_network(p)] = eid

    # AWS reserves the network address, +1 (router), +2 (DNS), +3 (future use) and the broadcast address.
    def v4_reserved(self, a):
        off = int(a) - int(self.v4.network_address)
        return off < 4 or a == self.v4.broadcast_address

    def v6_required(self):
        if self.v6 is None:
            raise Ec2Error("InvalidParameterValue", f"Subnet {self.id} has no IPv6 CIDR block.")
        return self.v6

    def prefix_holder(self, a, fam):
        for p, eid in (self.p4 if fam == "4" else self.p6).items():
            if a in p:
                return eid, p
        return None

    def free_v4(self, n):
        """The n lowest addresses no ENI holds, outside every prefix and not AWS-reserved."""
        base, size = int(self.v4.network_address), self.v4.num_addresses
        blocked = {(int(p.network_address) - base) >> 4 for p in self.p4}
        held = {int(a) - base for a in self.v4_holder}
        out = []
        for off in range(4, size - 1):
            if off in held or (off >> 4) in blocked:
                continue
            out.append(str(ipaddress.IPv4Address(base + off)))
            if len(out) == n:
                break
        return out

    def free_v4_prefixes(self, n):
        """The n lowest aligned /28s that overlap no address, no reserved address and no prefix."""
        if self.v4.prefixlen > 28:
            return []
        base, size = int(self.v4.network_address), self.v4.num_addresses
        taken = {(int(p.network_address) - base) >> 4 for p in self.p4}
        taken |= {(int(a) - base) >> 4 for a in self.v4_holder}
        taken |= {0, (size - 1) >> 4}
        out = []
        for blk in range(size >> 4):
            if blk not in taken:
                out.append(f"{ipaddress.IPv4Address(base + (blk << 4))}/28")
                if len(out) == n:
                    break
        return out

    def free_v6(self, n):
        """The n lowest addresses of the subnet's /64 (past the first four) no ENI holds, outside every /80."""
        net = self.v6_required()
        base, size = int(net.network_address), net.num_addresses
        blocked = {(int(p.network_address) - base) >> 48 for p in self.p6}
        held = {int(a) - base for a in self.v6_holder}
        out = []
        off = 4
        while len(out) < n and off < size - 1:
            if (off >> 48) in blocked:
                off = ((off >> 48) + 1) << 48
                continue
            if off not in held:
                out.append(str(ipaddress.IPv6Address(base + off)))
            off += 1
        return out

    def free_v6_prefixes(self, n):
        net = self.v6_required()
        if net.prefixlen > 80:
            return []
        base, size = int(net.network_address), net.num_addresses
        taken = {(int(p.network_address) - base) >> 48 for p in self.p6}
        taken |= {(int(a) - base) >> 48 for a in self.v6_holder}
        taken |= {0, (size - 1) >> 48}
        out = []
        blk = 0
        while len(out) < n and blk < (size >> 48):
            if blk not in taken:
                out.append(f"{ipaddress.IPv6Address(base + (blk << 48))}/80")
            blk += 1
        return out


class AddressModel:
    """EC2 address assignment as real EC2 does it, on top of moto (see "What this models beyond moto" in the module
    docstring).  moto stays the store of ENIs and their addresses: the model reads moto, decides, and writes moto
    with explicit addresses.  It keeps only what moto lacks: IPv4 /28 and IPv6 /80 prefixes per ENI, and limits."""

    ACTIONS = ("AssignPrivateIpAddresses", "UnassignPrivateIpAddresses", "AssignIpv6Addresses",
               "UnassignIpv6Addresses")

    def __init__(self, env):
        self.env = env
        self.lock = threading.Lock()  # one read-decide-write at a time: two ENIs never get the same address
        self.prefixes = {}  # eni id -> {"4": [cidr, …], "6": [cidr, …]} in assignment order
        self.limits = {"ipv4PerEni": None, "ipv6PerEni": None}

    # ---- state
    def clear(self):
        with self.env.lock:
            self.prefixes = {}
            self.limits = {"ipv4PerEni": None, "ipv6PerEni": None}

    def set_limits(self, spec):
        with self.env.lock:
            for k in ("ipv4PerEni", "ipv6PerEni"):
                if k in spec:
                    v = spec[k]
                    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                        raise ValueError(f"{k} must be a positive integer or null")
                    self.limits[k] = v
            unknown = set(spec) - {"ipv4PerEni", "ipv6PerEni"}
            if unknown:
                raise ValueError(f"unknown limits {sorted(unknown)}")
            return dict(self.limits)

    def of(self, eni_id, fam):
        with self.env.lock:
            return list(self.prefixes.get(eni_id, {}).get(fam, []))

    def prune(self, live_ids):
        """Drop the records of ENIs moto no longer has (deleted directly, or with their instance)."""
        with self.env.lock:
            for eid in [e for e in self.prefixes if e not in live_ids]:
                del self.prefixes[eid]

    def _record(self, eni_id, fam, add=(), remove=()):
        with self.env.lock:
            d = self.prefixes.setdefault(eni_id, {"4": [], "6": []})
            d[fam] = [p for p in d[fam] if p not in remove] + [p for p in add if p not in d[fam]]
            if not d["4"] and not d["6"]:
                del self.prefixes[eni_id]

    def _world(self, params):
        """(the ENI as moto has it, its SubnetView).  Passthrough when moto should answer instead."""
        eni_id = qparam(params, "NetworkInterfaceId")
        if not eni_id:
            raise Passthrough()
        enis = self.env.ec2.describe_network_interfaces()["NetworkInterfaces"]
        self.prune({e["NetworkInterfaceId"] for e in enis})
        me = next((e for e in enis if e["NetworkInterfaceId"] == eni_id), None)
        if me is None:
            raise Passthrough()  # moto answers InvalidNetworkInterfaceID.NotFound
        subnet = self.env.ec2.describe_subnets(SubnetIds=[me["SubnetId"]])["Subnets"][0]
        with self.env.lock:
            prefixes = {k: {f: list(v) for f, v in d.items()} for k, d in self.prefixes.items()}
        return me, SubnetView(subnet, [e for e in enis if e["SubnetId"] == me["SubnetId"]], prefixes)

    def _check_limit(self, me, fam, adding):
        limit = self.limits["ipv4PerEni" if fam == "4" else "ipv6PerEni"]
        if limit is None or adding <= 0:
            return
        eid = me["NetworkInterfaceId"]
        have = len(self.of(eid, fam)) + (len(me.get("PrivateIpAddresses", [])) if fam == "4"
                                         else len(me.get("Ipv6Addresses", [])))
        if have + adding > limit:
            what = "private addresses" if fam == "4" else "IPv6 addresses"
            raise Ec2Error("PrivateIpAddressLimitExceeded", f"Number of {what} will exceed limit.")

    @staticmethod
    def _one_kind(kinds, names):
        given = [n for n, k in zip(names, kinds) if k]
        if not given:
            raise Ec2Error("MissingParameter", f"One of {', '.join(names)} must be specified.")
        if len(given) > 1:
            raise Ec2Error("InvalidParameterCombination",
                           f"You may specify only one of {', '.join(names)}, not {' and '.join(given)}.")

    # ---- proxy hooks
    def handle(self, action, params, region):
        """(status, headers, body) for an action modelled here; None to forward the request to moto unchanged."""
        if action not in self.ACTIONS or (region and region != self.env.region):
            return None
        try:
            with self.lock:
                return getattr(self, "_" + action)(params)
        except Passthrough:
            return None
        except Ec2Error as e:
            return e.status, XML_TYPE, aws_error_xml(e.code, e.message)

    def after_moto(self, action, params, region, status, body):
        """Amends what moto answered: prefixes in DescribeNetworkInterfaces; a deleted ENI drops its prefixes."""
        if region and region != self.env.region or status != 200:
            return body
        if action == "DeleteNetworkInterface":
            eid = qparam(params, "NetworkInterfaceId")
            with self.env.lock:
                self.prefixes.pop(eid, None)
        elif action == "DescribeNetworkInterfaces" and body and self.prefixes:
            def add(m):
                eid = m.group(2).decode()
                extra = ""
                p4, p6 = self.of(eid, "4"), self.of(eid, "6")
                if p4:
                    extra += xml_set("ipv4PrefixSet", p4, "ipv4Prefix")
                if p6:
                    extra += xml_set("ipv6PrefixSet", p6, "ipv6Prefix")
                return m.group(1) + extra.encode()

            body = re.sub(rb"(<networkInterfaceId>([^<]+)</networkInterfaceId>)", add, body)
        return body

    # ---- IPv4
    def _AssignPrivateIpAddresses(self, params):
        addrs = qlist(params, "PrivateIpAddress")
        count = qparam(params, "SecondaryPrivateIpAddressCount")
        prefixes = qlist(params, "Ipv4Prefix")
        pcount = qparam(params, "Ipv4PrefixCount")
        self._one_kind([addrs, count is not None, prefixes, pcount is not None],
                       ["PrivateIpAddress", "SecondaryPrivateIpAddressCount", "Ipv4Prefix", "Ipv4PrefixCount"])
        reassign = (qparam(params, "AllowReassignment") or "").strip().lower() == "true"
        me, view = self._world(params)
        eid = me["NetworkInterfaceId"]
        ec2 = self.env.ec2
        got, got_prefixes = [], []
        if count is not None:
            n = positive(count, "secondaryPrivateIpAddressCount")
            self._check_limit(me, "4", n)
            got = view.free_v4(n)
            if len(got) < n:
                raise Ec2Error("InsufficientFreeAddressesInSubnet",
                               "The specified subnet does not have enough free addresses to satisfy the request.")
            ec2.assign_private_ip_addresses(NetworkInterfaceId=eid, PrivateIpAddresses=got)
        elif addrs:
            new, moves, denied = [], {}, []
            for raw in addrs:
                try:
                    a = ipaddress.IPv4Address(raw)
                except ValueError:
                    raise Ec2Error("InvalidParameterValue", f"invalid value for parameter address: {raw}") from None
                if a not in view.v4:
                    raise Ec2Error("InvalidParameterValue",
                                   f"Address {a} does not fall within the subnet's address range ({view.v4}).")
                if view.v4_reserved(a):
                    raise Ec2Error("InvalidParameterValue", f"Address {a} is in subnet's reserved address range.")
                in_prefix = view.prefix_holder(a, "4")
                if in_prefix:
                    raise Ec2Error("InvalidIPAddress.InUse",
                                   f"Address {a} is in use (in prefix {in_prefix[1]} of {in_prefix[0]}).")
                holder = view.v4_holder.get(a)
                if holder and holder[0] == eid:
                    continue  # already ours: assigned again is a no-op
                if holder and holder[1]:
                    raise Ec2Error("InvalidIPAddress.InUse",
                                   f"Address {a} is in use (the primary address of {holder[0]}).")
                if holder and not reassign:
                    denied.append(str(a))
                    continue
                if holder:
                    moves.setdefault(holder[0], []).append(str(a))
                new.append(str(a))
            if denied:
                raise Ec2Error("InvalidParameterValue", f"[{', '.join(denied)}] assigned, but move is not allowed.")
            self._check_limit(me, "4", len(new))
            for old, moved in moves.items():
                ec2.unassign_private_ip_addresses(NetworkInterfaceId=old, PrivateIpAddresses=moved)
            if new:
                ec2.assign_private_ip_addresses(NetworkInterfaceId=eid, PrivateIpAddresses=new)
            got = [str(ipaddress.IPv4Address(a)) for a in addrs]
        elif prefixes:
            new = []
            for raw in prefixes:
                p = self._parse_prefix(raw, 4, 28, view.v4)
                holder = view.p4.get(p)
                if holder == eid:
                    continue
                self._prefix_free(p, view, "4")
                new.append(str(p))
            self._check_limit(me, "4", len(new))
            self._record(eid, "4", add=new)
            got_prefixes = [str(ipaddress.ip_network(p)) for p in prefixes]
        else:
            n = positive(pcount, "ipv4PrefixCount")
            self._check_limit(me, "4", n)
            got_prefixes = view.free_v4_prefixes(n)
            if len(got_prefixes) < n:
                raise Ec2Error("InsufficientCidrBlocks",
                               "The specified subnet does not have enough free cidr blocks to satisfy the request.")
            self._record(eid, "4", add=got_prefixes)
        return ec2_answer("AssignPrivateIpAddresses",
                          f"<networkInterfaceId>{eid}</networkInterfaceId>"
                          + xml_set("assignedPrivateIpAddressesSet", got, "privateIpAddress")
                          + xml_set("assignedIpv4PrefixSet", got_prefixes, "ipv4Prefix"))

    def _UnassignPrivateIpAddresses(self, params):
        addrs = qlist(params, "PrivateIpAddress")
        prefixes = qlist(params, "Ipv4Prefix")
        if not addrs and not prefixes:
            raise Ec2Error("MissingParameter", "One of PrivateIpAddress or Ipv4Prefix must be specified.")
        me, view = self._world(params)
        eid = me["NetworkInterfaceId"]
        mine = {a["PrivateIpAddress"]: bool(a.get("Primary")) for a in me.get("PrivateIpAddresses", [])}
        for a in addrs:
            if a not in mine:
                raise Ec2Error("InvalidParameterValue", f"Some of the specified addresses are not assigned to interface {eid}")
            if mine[a]:
                raise Ec2Error("InvalidParameterValue", f"Value ({a}) for parameter privateIpAddress is invalid. "
                                                        "The primary IP address of an interface cannot be unassigned.")
        have = self.of(eid, "4")
        gone = []
        for raw in prefixes:
            try:
                p = str(ipaddress.ip_network(raw))
            except ValueError:
                p = raw
            if p not in have:
                raise Ec2Error("InvalidParameterValue", f"Some of the specified prefixes are not assigned to interface {eid}")
            gone.append(p)
        if addrs:
            self.env.ec2.unassign_private_ip_addresses(NetworkInterfaceId=eid, PrivateIpAddresses=addrs)
        self._record(eid, "4", remove=gone)
        return ec2_answer("UnassignPrivateIpAddresses", "<return>true</return>")

    # ---- IPv6
    def _AssignIpv6Addresses(self, params):
        addrs = qlist(params, "Ipv6Addresses")
        count = qparam(params, "Ipv6AddressCount")
        prefixes = qlist(params, "Ipv6Prefix")
        pcount = qparam(params, "Ipv6PrefixCount")
        self._one_kind([addrs, count is not None, prefixes, pcount is not None],
                       ["Ipv6Addresses", "Ipv6AddressCount", "Ipv6Prefix", "Ipv6PrefixCount"])
        me, view = self._world(params)
        eid = me["NetworkInterfaceId"]
        ec2 = self.env.ec2
        got, got_prefixes = [], []
        if count is not None:
            n = positive(count, "ipv6AddressCount")
            self._check_limit(me, "6", n)
            got = view.free_v6(n)
            if len(got) < n:
                raise Ec2Error("InsufficientFreeAddressesInSubnet",
                               "The specified subnet does not have enough free addresses to satisfy the request.")
            ec2.assign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6Addresses=got)
        elif addrs:
            net = view.v6_required()
            new = []
            for raw in addrs:
                try:
                    a = ipaddress.IPv6Address(raw)
                except ValueError:
                    raise Ec2Error("InvalidParameterValue", f"invalid value for parameter address: {raw}") from None
                if a not in net:
                    raise Ec2Error("InvalidParameterValue",
                                   f"Address {a} does not fall within the subnet's address range ({net}).")
                in_prefix = view.prefix_holder(a, "6")
                if in_prefix:
                    raise Ec2Error("InvalidIPAddress.InUse",
                                   f"Address {a} is in use (in prefix {in_prefix[1]} of {in_prefix[0]}).")
                holder = view.v6_holder.get(a)
                if holder == eid:
                    continue
                if holder:
                    raise Ec2Error("InvalidIPAddress.InUse", f"Address {a} is in use (assigned to {holder}).")
                new.append(str(a))
            self._check_limit(me, "6", len(new))
            if new:
                ec2.assign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6Addresses=new)
            got = [str(ipaddress.IPv6Address(a)) for a in addrs]
        elif prefixes:
            net = view.v6_required()
            new = []
            for raw in prefixes:
                p = self._parse_prefix(raw, 6, 80, net)
                if view.p6.get(p) == eid:
                    continue
                self._prefix_free(p, view, "6")
                new.append(str(p))
            self._check_limit(me, "6", len(new))
            self._record(eid, "6", add=new)
            got_prefixes = [str(ipaddress.ip_network(p)) for p in prefixes]
        else:
            n = positive(pcount, "ipv6PrefixCount")
            self._check_limit(me, "6", n)
            got_prefixes = view.free_v6_prefixes(n)
            if len(got_prefixes) < n:
                raise Ec2Error("InsufficientCidrBlocks",
                               "The specified subnet does not have enough free cidr blocks to satisfy the request.")
            self._record(eid, "6", add=got_prefixes)
        return ec2_answer("AssignIpv6Addresses",
                          xml_set("assignedIpv6Addresses", got) + xml_set("assignedIpv6PrefixSet", got_prefixes)
                          + f"<networkInterfaceId>{eid}</networkInterfaceId>")

    def _UnassignIpv6Addresses(self, params):
        addrs = qlist(params, "Ipv6Addresses")
        prefixes = qlist(params, "Ipv6Prefix")
        if not addrs and not prefixes:
            raise Ec2Error("MissingParameter", "One of Ipv6Addresses or Ipv6Prefix must be specified.")
        me, _ = self._world(params)
        eid = me["NetworkInterfaceId"]
        # Like moto (and, as far as we know, EC2): what the ENI does not hold is skipped; the answer lists what went.
        gone = []
        if addrs:
            gone = self.env.ec2.unassign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6Addresses=addrs).get(
                "UnassignedIpv6Addresses", [])
        have = self.of(eid, "6")
        gone_p = []
        for raw in prefixes:
            try:
                p = str(ipaddress.ip_network(raw))
            except ValueError:
                continue
            if p in have:
                gone_p.append(p)
        self._record(eid, "6", remove=gone_p)
        return ec2_answer("UnassignIpv6Addresses",
                          f"<networkInterfaceId>{eid}</networkInterfaceId>"
                          + xml_set("unassignedIpv6Addresses", gone) + xml_set("unassignedIpv6PrefixSet", gone_p))

    # ---- prefixes
    @staticmethod
    def _parse_prefix(raw, version, length, net):
        try:
            p = ipaddress.ip_network(raw, strict=True)
        except ValueError:
            raise Ec2Error("InvalidParameterValue", f"The prefix {raw} is not a valid CIDR block.") from None
        if p.version != version or p.prefixlen != length:
            raise Ec2Error("InvalidParameterValue", f"The prefix {raw} must be a /{length}.")
        if not p.subnet_of(net):
            raise Ec2Error("InvalidParameterValue", f"The prefix {p} does not fall within the subnet's range ({net}).")
        return p

    @staticmethod
    def _prefix_free(p, view, fam):
        """Raises when the prefix overlaps a reserved address, an address of any ENI, or another prefix."""
        if fam == "4":
            if view.v4_reserved(p.network_address) or view.v4_reserved(p.broadcast_address):
                raise Ec2Error("InvalidIPAddress.InUse", f"Prefix {p} contains an address reserved by AWS.")
            holders = view.v4_holder
            others = view.p4
        else:
            net = view.v6_required()
            if int(p.network_address) - int(net.network_address) < 4 or p.broadcast_address == net.broadcast_address:
                raise Ec2Error("InvalidIPAddress.InUse", f"Prefix {p} contains an address reserved by AWS.")
            holders = view.v6_holder
            others = view.p6
        for a, h in holders.items():
            if a in p:
                who = h[0] if isinstance(h, tuple) else h
                raise Ec2Error("InvalidIPAddress.InUse", f"Prefix {p} is in use (address {a} of {who}).")
        for q, who in others.items():
            if q.overlaps(p):
                raise Ec2Error("InvalidIPAddress.InUse", f"Prefix {p} is in use (prefix {q} of {who}).")



# ------------------------------------------------------------------------------------------------ fault proxy


# ------------------------------------------------------------------------------------------------ request throttling


class Throttle:
    """AWS's request-rate limiting of the EC2 API (per account and Region, so one bucket per action shared by every
    caller of the proxy): a token bucket per action, full when switched on, refilled continuously; a call finding
    less than one token is refused (and takes none).  Off by default.  Sizes and refill rates are AWS's published
    ones for the actions the plugin and the node agent call; DescribeNetworkInterfaces has two buckets: with a
    Filter.N or pagination (MaxResults/NextToken), and without ("unfiltered and unpaginated")."""

    LIMITS = {
        "AssignPrivateIpAddresses": (100, 5),
        "UnassignPrivateIpAddresses": (100, 5),
        "AssignIpv6Addresses": (100, 5),
        "UnassignIpv6Addresses": (100, 5),
        "DescribeNetworkInterfaces": (100, 20),
        "DescribeNetworkInterfaces#unfiltered": (50, 10),
    }

    def __init__(self, lock, scale=None):
        self.lock = lock
        self.initial_scale = scale  # --throttle SCALE: on from the start and after every reset
        self.clear()

    def clear(self):
        with self.lock:
            self.enabled = self.initial_scale is not None
            self.scale = float(self.initial_scale if self.initial_scale is not None else 1.0)
            self.base = dict(self.LIMITS)
            self.default = None
            self.throttled = {}
            self.admitted = {}
            self.refill_all()

    def zero_counts(self):
        with self.lock:
            self.throttled = {}
            self.admitted = {}

    def limits(self):
        """KEY -> (size, refill per second), scaled; a size never below one token."""
        return {k: (max(size * self.scale, 1.0), rate * self.scale) for k, (size, rate) in self.base.items()}

    def refill_all(self):
        now = time.monotonic()
        self.tokens = {k: [size, now] for k, (size, _) in self.limits().items()}
        self.default_tokens = {}

    def configure(self, spec):
        with self.lock:
            if "enabled" in spec:
                self.enabled = bool(spec["enabled"])
            if "scale" in spec:
                scale = float(spec["scale"])
                if not scale > 0:
                    raise ValueError("scale must be > 0")
                self.scale = scale
            for key, b in (spec.get("buckets") or {}).items():
                if b is None:
                    self.base.pop(key, None)
                else:
                    self.base[key] = (float(b["size"]), float(b["refill"]))
            if "default" in spec:
                d = spec["default"]
                self.default = None if d is None else (float(d["size"]), float(d["refill"]))
            self.refill_all()
            return self.report()

    @staticmethod
    def key(action, params):
        if action == "DescribeNetworkInterfaces":
            filtered = any(k.startswith("Filter.") for k in params) or "MaxResults" in params or "NextToken" in params
            return action if filtered else action + "#unfiltered"
        return action

    def admit(self, action, params):
        """True: the call goes on (a token taken, or no bucket for it); False: answer RequestLimitExceeded."""
        with self.lock:
            if not self.enabled:
                return True
            key = self.key(action, params)
            limits = self.limits()
            if key in limits:
                size, rate = limits[key]
                slot = self.tokens.setdefault(key, [size, time.monotonic()])
            elif self.default is not None:
                size, rate = max(self.default[0] * self.scale, 1.0), self.default[1] * self.scale
                slot = self.default_tokens.setdefault(key, [size, time.monotonic()])
            else:
                self.admitted[action] = self.admitted.get(action, 0) + 1
                return True
            now = time.monotonic()
            slot[0] = min(size, slot[0] + (now - slot[1]) * rate)
            slot[1] = now
            if slot[0] >= 1.0:
                slot[0] -= 1.0
                self.admitted[action] = self.admitted.get(action, 0) + 1
                return True
            self.throttled[action] = self.throttled.get(action, 0) + 1
            return False

    def report(self):
        with self.lock:
            now = time.monotonic()
            limits = self.limits()
            tokens = {}
            for k, (size, rate) in limits.items():
                t, last = self.tokens.get(k, [size, now])
                tokens[k] = round(min(size, t + (now - last) * rate), 3)
            return {
                "enabled": self.enabled,
                "scale": self.scale,
                "buckets": {k: {"size": size, "refill": rate} for k, (size, rate) in sorted(limits.items())},
                "default": None if self.default is None else {"size": self.default[0], "refill": self.default[1]},
                "tokens": tokens,
                "throttled": dict(self.throttled),
                "admitted": dict(self.admitted),
            }


READ_ONLY_PREFIXES = ("Describe", "Get", "List")
UNSIGNED_ACTIONS = ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")


class ProxyHandler(Handler):
    server_version = "AmazonEC2"

    def do_ANY(self):
        env = self.server.env
        body = self.read_body()
        parsed = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if body and ("x-www-form-urlencoded" in ctype or ctype == ""):
            try:
                for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items():
                    params.setdefault(k, []).extend(v)
            except UnicodeDecodeError:
                pass
        action = (params.get("Action") or [None])[0]
        if not action and self.headers.get("X-Amz-Target"):
            action = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
        action = action or f"{self.command} {parsed.path}"
        auth = parse_authorization(self.headers.get("Authorization"))
        service = auth["service"] if auth else None
        with env.lock:
            env.counts[action] = env.counts.get(action, 0) + 1
            env.req_seq += 1
            rec = {
                "seq": env.req_seq,
                "time": time.time(),
                "method": self.command,
                "action": action,
                "service": service,
                "region": auth["region"] if auth else None,
                "accessKeyId": auth["akid"] if auth else None,
                "date": auth["date"] if auth else None,
                "securityToken": bool(self.headers.get("X-Amz-Security-Token")),
                "params": {k: (v[0] if len(v) == 1 else v) for k, v in params.items()},
                "status": None,
                "fault": None,
                "throttled": False,
                "signature": "unchecked",
            }
            env.requests.append(rec)
            if len(env.requests) > 5000:
                del env.requests[:1000]
            verify = env.verify

        # Signature verification (moto checks nothing).
        if verify:
            if not auth:
                if self.headers.get("Authorization") or action not in UNSIGNED_ACTIONS:
                    rec["signature"] = "missing"
                    return self.fail(rec, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
                rec["signature"] = "unsigned-allowed"
            else:
                secret = env.known_secret(auth["akid"])
                if secret is None:
                    rec["signature"] = "unknown-key"
                    return self.fail(
                        rec, 401, "AuthFailure", "AWS was not able to validate the provided access credentials"
                    )
                ok, why = verify_sigv4(self.command, self.path, self.headers, body, auth, secret)
                rec["signature"] = "valid" if ok else f"invalid ({why})"
                if not ok:
                    return self.fail(
                        rec,
                        403,
                        "SignatureDoesNotMatch",
                        "The request signature we calculated does not match the signature you provided. "
                        "Check your AWS Secret Access Key and signing method. "
                        "Consult the service documentation for details.",
                    )

        # AWS's request-rate throttling (off unless switched on): before the fault rules and the model.
        if not env.throttle.admit(action, rec["params"]):
            rec["throttled"] = True
            log.info("throttled %s (bucket %s empty)", action, Throttle.key(action, rec["params"]))
            return self.fail(rec, 503, "RequestLimitExceeded", "Request limit exceeded.")

        mutating = not action.startswith(READ_ONLY_PREFIXES)
        rule = env.pick_rule(service, action)
        if rule:
            rec["fault"] = rule["mode"]
            if rule["delayMs"]:
                time.sleep(rule["delayMs"] / 1000.0)
            mode = rule["mode"]
            log.info("fault %s on %s (rule %d)", mode, action, rule["id"])
            if mode == "throttle":
                return self.fail(
                    rec, rule["status"] or 503, rule["code"] or "RequestLimitExceeded",
                    rule["message"] or "Request limit exceeded.",
                )
            if mode == "error500":
                return self.fail(
                    rec, rule["status"] or 500, rule["code"] or "InternalError",
                    rule["message"] or "An internal error has occurred",
                )
            if mode == "unavailable":
                return self.fail(
                    rec, rule["status"] or 503, rule["code"] or "Unavailable",
                    rule["message"] or "The server is overloaded and can't handle the request.",
                )
            if mode == "error":
                return self.fail(
                    rec, rule["status"] or 400, rule["code"] or "InvalidParameterValue",
                    rule["message"] or "Injected error.",
                )
            if mode in ("drop", "reset"):
                rec["status"] = 0
                return self.drop(rst=(mode == "reset"))
            if mode == "drop-after":
                if mutating:
                    env.changed()
                status, _, _ = self.dispatch(action, params, body, auth)
                rec["status"] = 0
                self.after_forward(action, status, None)
                return self.drop()
            # "delay": forward normally below.
        if mutating:
            env.changed()
        status, headers, rbody = self.dispatch(action, params, body, auth)
        rec["status"] = status
        self.after_forward(action, status, rbody)
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rbody)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(rbody)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_ANY

    def dispatch(self, action, params, body, auth):
        """After faults and signatures: answer an action the emulator models beyond moto (AddressModel), or
        forward to moto (and amend what moto answered, e.g. prefixes in DescribeNetworkInterfaces)."""
        model = self.server.env.addresses
        region = auth["region"] if auth else None
        out = model.handle(action, params, region)
        if out is not None:
            return out
        status, headers, rbody = self.forward(body)
        return status, headers, model.after_moto(action, params, region, status, rbody)

    def fail(self, rec, status, code, message):
        rec["status"] = status
        self.reply(status, aws_error_xml(code, message), "text/xml;charset=UTF-8")

    def forward(self, body):
        env = self.server.env
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive", "expect",
                                                                             "transfer-encoding", "content-length")}
        headers["Content-Length"] = str(len(body))
        c = http.client.HTTPConnection(LOOPBACK, env.moto_port, timeout=60)
        try:
            c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                c.putheader(k, v)
            c.endheaders(body)
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            c.close()

    def after_forward(self, action, status, rbody):
        env = self.server.env
        if not action.startswith(READ_ONLY_PREFIXES):
            env.changed()  # again: an IMDS read during the call may have cached the state before it
        if status and status < 300 and rbody and action.startswith(("AssumeRole", "GetSessionToken",
                                                                     "GetFederationToken")):
            m1 = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", rbody)
            m2 = re.search(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>", rbody)
            if m1 and m2:
                with env.lock:
                    env.sts_keys[m1.group(1).decode()] = m2.group(1).decode()
        if status and status < 300 and env.tracking and not action.startswith(READ_ONLY_PREFIXES):
            try:
                env.observe()
            except Exception:  # noqa: BLE001 — tracking is best effort
                log.exception("observe failed")


# ------------------------------------------------------------------------------------------------ IMDS


class ImdsState:
    def __init__(self, env, http_tokens):
        self.env = env
        self.lock = threading.Lock()
        self.reset(http_tokens)

    def reset(self, http_tokens):
        with getattr(self, "lock", threading.Lock()):
            self.instance = getattr(self, "instance", None)
            self.http_tokens = http_tokens
            self.tokens = {}
            self.lag_ms = 0
            self.max_token_ttl = None
            self.fail = 0
            self.fail_status = 500
            self.delay_ms = 0
            self.role = "eni-multus-node"
            self.user_data = None
            self.creds = None
            self.creds_ttl = 6 * 3600
            self.creds_issued = None
            self.container_token = "emulator-pod-identity-token"
            self.counts = {}
            self.issued = {}
            self.gen = secrets.token_hex(4)

    def config(self):
        return {
            "instance": self.instance,
            "httpTokens": self.http_tokens,
            "lagMs": self.lag_ms,
            "maxTokenTtl": self.max_token_ttl,
            "fail": self.fail,
            "failStatus": self.fail_status,
            "delayMs": self.delay_ms,
            "role": self.role,
            "userData": self.user_data,
            "containerToken": self.container_token,
            "tokensIssued": len(self.tokens),
            "credentials": self.role_credentials(peek=True),
            "counts": dict(self.counts),
        }

    def apply(self, cfg):
        with self.lock:
            if "instance" in cfg:
                self.instance = cfg["instance"]
            if "httpTokens" in cfg:
                if cfg["httpTokens"] not in ("required", "optional"):
                    raise ValueError("httpTokens must be required or optional")
                self.http_tokens = cfg["httpTokens"]
            if "v1" in cfg:
                self.http_tokens = "optional" if cfg["v1"] else "required"
            if "lagMs" in cfg:
                self.lag_ms = int(cfg["lagMs"] or 0)
            if cfg.get("expireTokens"):
                self.tokens = {}
            if "maxTokenTtl" in cfg:
                self.max_token_ttl = cfg["maxTokenTtl"]
                if self.max_token_ttl is not None:
                    for tok, exp in list(self.tokens.items()):
                        self.tokens[tok] = min(exp, time.time() + float(self.max_token_ttl))
            if "fail" in cfg:
                self.fail = int(cfg["fail"] or 0)
            if "failStatus" in cfg:
                self.fail_status = int(cfg["failStatus"])
            if "delayMs" in cfg:
                self.delay_ms = int(cfg["delayMs"] or 0)
            if "role" in cfg:
                self.role = cfg["role"]
            if "userData" in cfg:
                self.user_data = cfg["userData"]
            if "containerToken" in cfg:
                self.container_token = cfg["containerToken"]
            if "credentials" in cfg:
                c = cfg["credentials"] or {}
                self.creds_ttl = int(c.get("expiresInSeconds", self.creds_ttl))
                self.creds = {k: c[k] for k in ("AccessKeyId", "SecretAccessKey", "Token") if k in c} or None
                self.creds_issued = None
        if self.lag_ms > 0:
            self.env.enable_tracking()

    def role_credentials(self, peek=False):
        if not self.role:
            return None
        now = time.time()
        if self.creds_issued is None or (not peek and now >= self.creds_issued + self.creds_ttl):
            self.creds_issued = now
            self.gen = secrets.token_hex(4)
        base = self.creds or {}
        out = {
            "Code": "Success",
            "LastUpdated": now_iso(self.creds_issued),
            "Type": "AWS-HMAC",
            "AccessKeyId": base.get("AccessKeyId", "ASIAIMDSEMULATOR" + self.gen[:4].upper()),
            "SecretAccessKey": base.get("SecretAccessKey", "imds-emulator-secret-" + self.gen),
            "Token": base.get("Token", "IQoJb3JpZ2luX2VjEIMDSEmulatorSessionToken" + self.gen),
            "Expiration": now_iso(self.creds_issued + self.creds_ttl),
        }
        self.issued[out["AccessKeyId"]] = out["SecretAccessKey"]
        return out

    def container_credentials(self):
        return {
            "AccessKeyId": "ASIAPODIDENTITYEMUL8",
            "SecretAccessKey": "pod-identity-emulator-secret",
            "Token": "IQoJb3JpZ2luX2VjEPodIdentityEmulatorToken",
            "AccountId": ACCOUNT_ID,
            "Expiration": now_iso(time.time() + 6 * 3600),
        }


class NotFound(Exception):
    pass


class InstanceView:
    """Lazily fetched moto state for one IMDS request (each piece at most once per request, and shared across
    requests until the state may have changed: `Env.changed`)."""

    def __init__(self, env, iid):
        self.env, self.iid, self._c = env, iid, {}

    def _get(self, key, fn):
        if key not in self._c:
            env, ck = self.env, (self.iid, key)
            with env.lock:
                gen, hit = env.generation, env.view_cache.get(ck)
            if hit is not None and hit[0] == gen:
                self._c[key] = hit[1]
            else:
                value = fn()
                with env.lock:
                    if env.generation == gen:
                        env.view_cache[ck] = (gen, value)
                self._c[key] = value
        return self._c[key]

    def instance(self):
        def f():
            try:
                r = self.env.ec2.describe_instances(InstanceIds=[self.iid])["Reservations"]
            except Exception:  # noqa: BLE001 — unknown id
                return None
            return r[0]["Instances"][0] if r and r[0]["Instances"] else None

        i = self._get("instance", f)
        if i is None:
            raise NotFound()
        return i

    def enis(self):
        def f():
            e = self.env.ec2.describe_network_interfaces(
                Filters=[{"Name": "attachment.instance-id", "Values": [self.iid]}]
            )["NetworkInterfaces"]
            e = [x for x in e if (x.get("Attachment") or {}).get("Status", "attached") in ("attached", "attaching")]
            self.env.observe(e)
            return sorted(e, key=lambda x: (x["Attachment"].get("NetworkCardIndex", 0), x["Attachment"]["DeviceIndex"]))

        return self._get("enis", f)

    def eni_by_mac(self, mac):
        for e in self.enis():
            if e["MacAddress"].lower() == mac.lower():
                return e
        raise NotFound()

    def subnet(self, sid):
        return self._get("subnet:" + sid, lambda: self.env.ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0])

    def vpc(self, vid):
        return self._get("vpc:" + vid, lambda: self.env.ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0])

    def primary(self):
        for e in self.enis():
            if e["Attachment"]["DeviceIndex"] == 0 and e["Attachment"].get("NetworkCardIndex", 0) == 0:
                return e
        raise NotFound()


class ImdsHandler(Handler):
    server_version = "EC2ws"

    def do_PUT(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def handle_any(self):
        st = self.server.state
        self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        with st.lock:
            key = f"{self.command} {path}"
            st.counts[key] = st.counts.get(key, 0) + 1
            if st.delay_ms:
                delay = st.delay_ms
            else:
                delay = 0
            failing = st.fail > 0
            if failing:
                st.fail -= 1
        if delay:
            time.sleep(delay / 1000.0)
        if failing:
            return self.reply(st.fail_status, f"{st.fail_status} - injected failure\n")
        try:
            if path == "/latest/api/token":
                return self.token()
            if path == "/v1/credentials":
                return self.container()
            if self.command not in ("GET", "HEAD"):
                return self.reply(405, "405 - Method Not Allowed\n", headers={"Allow": "GET, HEAD"})
            remaining = self.check_token()
            if remaining is False:
                return self.reply(401, "401 - Unauthorized\n")
            hdrs = {"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": str(remaining)} if remaining else {}
            try:
                body, ctype = self.resolve(path)
            except NotFound:
                return self.reply(404, "404 - Not Found\n", headers=hdrs)
            self.reply(200, body, ctype, hdrs)
        except Exception as e:  # noqa: BLE001
            log.error("imds %s: %s\n%s", path, e, traceback.format_exc())
            self.reply(500, "500 - Internal Server Error\n")

    def token(self):
        st = self.server.state
        if self.command != "PUT":
            return self.reply(405, "405 - Method Not Allowed\n", headers={"Allow": "OPTIONS, PUT"})
        if self.headers.get("X-Forwarded-For"):
            return self.reply(403, "403 - Forbidden\n")
        ttl = (self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") or "").strip()
        if not re.fullmatch(r"[0-9]{1,6}", ttl) or not (1 <= int(ttl) <= 21600):
            return self.reply(400, "400 - Bad Request\n")
        tok = base64.b64encode(secrets.token_bytes(42)).decode()
        lifetime = int(ttl)
        with st.lock:
            if st.max_token_ttl is not None:
                lifetime = min(lifetime, float(st.max_token_ttl))
            st.tokens[tok] = time.time() + lifetime
            if len(st.tokens) > 10000:
                now = time.time()
                st.tokens = {k: v for k, v in st.tokens.items() if v > now}
        self.reply(200, tok, headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})

    def check_token(self):
        """False: 401.  Otherwise the token's remaining seconds (None when none was given and v1 is allowed)."""
        st = self.server.state
        tok = self.headers.get("X-aws-ec2-metadata-token")
        if tok is None:
            return None if st.http_tokens == "optional" else False
        with st.lock:
            exp = st.tokens.get(tok.strip())
        if exp is None or exp <= time.time():
            return False
        return max(1, int(exp - time.time()))

    def container(self):
        st = self.server.state
        if self.command != "GET":
            return self.reply(405, "")
        if self.headers.get("Authorization") != st.container_token:
            return self.reply_json(401, {"Message": "unauthorized"})
        self.reply_json(200, st.container_credentials())

    # ---- the metadata tree
    def resolve(self, path):
        st = self.server.state
        env = self.server.env
        if path in ("/", ""):
            return "latest\n".rstrip("\n"), "text/plain"
        if path.rstrip("/") == "/latest":
            return "dynamic\nmeta-data\nuser-data", "text/plain"
        if path == "/latest/user-data":
            if st.user_data is None:
                raise NotFound()
            return st.user_data, "application/octet-stream"
        if not st.instance:
            raise NotFound()
        v = InstanceView(env, st.instance)
        if path.rstrip("/") == "/latest/dynamic":
            return "instance-identity/", "text/plain"
        if path.rstrip("/") == "/latest/dynamic/instance-identity":
            return "document", "text/plain"
        if path == "/latest/dynamic/instance-identity/document":
            i = v.instance()
            doc = {
                "accountId": ACCOUNT_ID,
                "architecture": "x86_64",
                "availabilityZone": i["Placement"]["AvailabilityZone"],
                "imageId": i.get("ImageId"),
                "instanceId": i["InstanceId"],
                "instanceType": i["InstanceType"],
                "pendingTime": now_iso(),
                "privateIp": i.get("PrivateIpAddress"),
                "region": env.region,
                "version": "2017-09-30",
            }
            return json.dumps(doc, indent=2), "text/plain"
        if not (path == "/latest/meta-data" or path.startswith("/latest/meta-data/")):
            raise NotFound()
        parts = [p for p in path[len("/latest/meta-data"):].split("/") if p]
        result = self.meta(v, parts, st, env)
        if isinstance(result, list):
            return "\n".join(result), "text/plain"
        return result, ("application/json" if result.startswith("{") else "text/plain")

    def meta(self, v, parts, st, env):
        def leaf(x):
            if x is None or x == "" or x == []:
                raise NotFound()
            return x

        if not parts:
            top = ["ami-id", "hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "mac",
                   "network/", "placement/", "services/"]
            if st.role:
                top.insert(2, "iam/")
            v.instance()
            return top
        head, rest = parts[0], parts[1:]
        if head == "instance-id" and not rest:
            return v.instance()["InstanceId"]
        if head == "instance-type" and not rest:
            return v.instance()["InstanceType"]
        if head == "ami-id" and not rest:
            return v.instance().get("ImageId") or DEFAULT_AMI
        if head == "local-ipv4" and not rest:
            return leaf(v.instance().get("PrivateIpAddress"))
        if head in ("hostname", "local-hostname") and not rest:
            ip = leaf(v.instance().get("PrivateIpAddress"))
            suffix = "ec2.internal" if env.region == "us-east-1" else f"{env.region}.compute.internal"
            return f"ip-{ip.replace('.', '-')}.{suffix}"
        if head == "mac" and not rest:
            return v.primary()["MacAddress"]
        if head == "services":
            if not rest:
                return ["domain", "partition"]
            if rest == ["domain"]:
                return "amazonaws.com"
            if rest == ["partition"]:
                return "aws"
            raise NotFound()
        if head == "placement":
            if not rest:
                return ["availability-zone", "availability-zone-id", "region"]
            if rest == ["availability-zone"]:
                return v.instance()["Placement"]["AvailabilityZone"]
            if rest == ["availability-zone-id"]:
                return leaf(v.subnet(v.instance()["SubnetId"]).get("AvailabilityZoneId"))
            if rest == ["region"]:
                v.instance()
                return env.region
            raise NotFound()
        if head == "iam" and st.role:
            v.instance()
            if not rest:
                return ["info", "security-credentials/"]
            if rest == ["info"]:
                return json.dumps({
                    "Code": "Success",
                    "LastUpdated": now_iso(),
                    "InstanceProfileArn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{st.role}",
                    "InstanceProfileId": "AIPAEMULATORPROFILE01",
                }, indent=2)
            if rest == ["security-credentials"]:
                return [st.role]
            if len(rest) == 2 and rest[0] == "security-credentials" and rest[1] == st.role:
                with st.lock:
                    c = st.role_credentials()
                return json.dumps(c, indent=2)
            raise NotFound()
        if head == "network":
            if not rest:
                return ["interfaces/"]
            if rest == ["interfaces"]:
                return ["macs/"]
            if rest[:2] != ["interfaces", "macs"]:
                raise NotFound()
            rest = rest[2:]
            if not rest:
                return [e["MacAddress"] + "/" for e in v.enis()]
            mac_data = self.mac_data(v, v.eni_by_mac(rest[0]), st, env)
            if len(rest) == 1:
                return [k + ("/" if isinstance(val, dict) else "") for k, val in mac_data.items()]
            if len(rest) == 2 and rest[1] in mac_data and not isinstance(mac_data[rest[1]], dict):
                return mac_data[rest[1]]
            raise NotFound()
        raise NotFound()

    def mac_data(self, v, e, st, env):
        att = e["Attachment"]
        sn = v.subnet(e["SubnetId"])
        vpc = v.vpc(e["VpcId"])
        primary = e.get("PrivateIpAddress")
        v4 = [primary] + [a["PrivateIpAddress"] for a in e.get("PrivateIpAddresses", [])
                          if a["PrivateIpAddress"] != primary]
        v4 = env.visible(e["NetworkInterfaceId"], "4", v4, st.lag_ms, primary)
        v6 = env.visible(e["NetworkInterfaceId"], "6", [a["Ipv6Address"] for a in e.get("Ipv6Addresses", [])],
                         st.lag_ms)
        sn6 = [a["Ipv6CidrBlock"] for a in sn.get("Ipv6CidrBlockAssociationSet", []) if a.get("Ipv6CidrBlock")]
        vpc4 = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])] or [vpc["CidrBlock"]]
        vpc6 = [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", []) if a.get("Ipv6CidrBlock")]
        # Prefixes: moto has none; the emulator's records (AddressModel), with the same propagation lag.
        p4 = env.visible(e["NetworkInterfaceId"], "p4", env.addresses.of(e["NetworkInterfaceId"], "4"), st.lag_ms)
        p6 = env.visible(e["NetworkInterfaceId"], "p6", env.addresses.of(e["NetworkInterfaceId"], "6"), st.lag_ms)
        suffix = "ec2.internal" if env.region == "us-east-1" else f"{env.region}.compute.internal"
        d = {
            "device-number": str(att["DeviceIndex"]),
            "interface-id": e["NetworkInterfaceId"],
            "ipv4-prefix": "\n".join(p4),
            "ipv6-prefix": "\n".join(p6),
            "ipv6s": "\n".join(v6),
            "local-hostname": f"ip-{primary.replace('.', '-')}.{suffix}",
            "local-ipv4s": "\n".join(v4),
            "mac": e["MacAddress"],
            "network-card": str(att.get("NetworkCardIndex", 0) or 0),
            "owner-id": e.get("OwnerId", ACCOUNT_ID),
            "security-group-ids": "\n".join(g["GroupId"] for g in e.get("Groups", [])),
            "security-groups": "\n".join(g.get("GroupName", "") for g in e.get("Groups", [])),
            "subnet-id": e["SubnetId"],
            "subnet-ipv4-cidr-block": sn["CidrBlock"],
            "subnet-ipv6-cidr-blocks": "\n".join(sn6),
            "vpc-id": e["VpcId"],
            "vpc-ipv4-cidr-block": vpc["CidrBlock"],
            "vpc-ipv4-cidr-blocks": "\n".join(vpc4),
            "vpc-ipv6-cidr-blocks": "\n".join(vpc6),
        }
        return {k: val for k, val in d.items() if val != ""}


# ------------------------------------------------------------------------------------------------ control API


class ControlHandler(Handler):
    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def do_PUT(self):
        self.route()

    def route(self):
        env = self.server.env
        raw = self.read_body()
        u = urllib.parse.urlsplit(self.path)
        path = u.path.rstrip("/") or "/"
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            return self.reply_json(400, {"error": f"bad JSON: {e}"})
        m = self.command
        if m != "GET":
            env.changed()
        try:
            if path == "/_emulator/health":
                return self.reply_json(200, {"ok": True})
            if path == "/_emulator/endpoints":
                return self.reply_json(200, self.server.endpoints)
            if path == "/_emulator/reset" and m == "POST":
                env.reset(body.get("seed"))
                return self.reply_json(200, {"ok": True})
            if path == "/_emulator/scenario" and m == "POST":
                return self.reply_json(200, env.build_scenario(body))
            if path == "/_emulator/scenario" and m == "GET":
                return self.reply_json(200, env.scenario_result or {})
            if path == "/_emulator/fault" and m == "POST":
                return self.reply_json(200, {"id": env.add_rule(body)})
            if (path == "/_emulator/fault" and m == "DELETE") or path == "/_emulator/fault/clear":
                with env.lock:
                    env.rules = []
                return self.reply_json(200, {"ok": True})
            if path == "/_emulator/faults":
                with env.lock:
                    return self.reply_json(200, [dict(r) for r in env.rules])
            if path == "/_emulator/counts" and m == "GET":
                with env.lock:
                    return self.reply_json(200, dict(env.counts))
            if (path == "/_emulator/counts" and m == "DELETE") or path == "/_emulator/counts/reset":
                with env.lock:
                    env.counts = {}
                    env.requests = []
                    env.throttle.zero_counts()
                    for s in env.imds:
                        s.state.counts = {}
                return self.reply_json(200, {"ok": True})
            if path == "/_emulator/requests":
                with env.lock:
                    reqs = [dict(r) for r in env.requests if not q.get("action") or r["action"] == q["action"]]
                return self.reply_json(200, reqs)
            if path == "/_emulator/sigv4":
                with env.lock:
                    if "verify" in body:
                        env.verify = bool(body["verify"])
                    env.extra_keys.update(body.get("credentials") or {})
                    return self.reply_json(200, {"verify": env.verify, "keys": sorted(
                        set(env.static_keys) | set(env.extra_keys) | set(env.sts_keys))})
            if path == "/_emulator/throttle":
                if m in ("POST", "PUT"):
                    return self.reply_json(200, env.throttle.configure(body))
                return self.reply_json(200, env.throttle.report())
            if path == "/_emulator/limits":
                if m in ("POST", "PUT"):
                    return self.reply_json(200, env.addresses.set_limits(body))
                with env.lock:
                    return self.reply_json(200, dict(env.addresses.limits))
            if path == "/_emulator/state":
                return self.reply_json(200, env.state())
            if path == "/_emulator/enis":
                return self.reply_json(200, env.state()["enis"])
            if path == "/_emulator/imds" and m == "GET":
                return self.reply_json(200, [dict(url=s.url, port=s.port, **s.state.config()) for s in env.imds])
            if path == "/_emulator/imds" and m == "POST":
                s = env.new_imds(q.get("instance") or body.get("instance"))
                s.state.apply({k: v for k, v in body.items() if k != "instance"})
                return self.reply_json(200, dict(imds=s.url, url=s.url, port=s.port, **s.state.config()))
            if path == "/_emulator/imds/config" and m in ("POST", "PUT"):
                s = env.find_imds(q.get("imds") or body.get("imds"))
                s.state.apply(body)
                return self.reply_json(200, dict(url=s.url, port=s.port, **s.state.config()))
            return self.reply_json(404, {"error": f"no route {m} {path}"})
        except (ValueError, KeyError) as e:
            return self.reply_json(400, {"error": str(e)})
        except Exception as e:  # noqa: BLE001
            log.error("control %s %s: %s\n%s", m, path, e, traceback.format_exc())
            return self.reply_json(500, {"error": f"{type(e).__name__}: {e}"})


# ------------------------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--http-tokens", choices=("required", "optional"), default="required")
    ap.add_argument("--scenario", help="JSON (or @file) seeded before the ready line")
    ap.add_argument("--no-stdin-watch", action="store_true", help="do not exit on stdin EOF (manual runs)")
    ap.add_argument("--ready-file", help="also write the ready JSON to this file")
    ap.add_argument("--throttle", type=float, metavar="SCALE",
                    help="AWS's request throttling on from the start, buckets scaled by SCALE (1.0: AWS's sizes)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format="ec2env %(asctime)s %(levelname)s %(message)s")

    def bye(*_):
        try:
            sys.stderr.flush()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    parent = os.getppid()

    if not args.no_stdin_watch:
        def stdin_watch():
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            bye()

        threading.Thread(target=stdin_watch, daemon=True).start()

    def parent_watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                bye()

    threading.Thread(target=parent_watch, daemon=True).start()

    t0 = time.time()
    if args.throttle is not None and not args.throttle > 0:
        ap.error("--throttle SCALE must be > 0")
    env = Env(args.region, args.seed, args.http_tokens, args.throttle)
    env.start_moto()
    proxy = Server(ProxyHandler, 0, env=env).start()
    env.new_imds()
    control = Server(ControlHandler, 0, env=env)
    env.reset()
    if args.scenario:
        spec = args.scenario
        if spec.startswith("@"):
            with open(spec[1:]) as f:
                spec = f.read()
        env.build_scenario(json.loads(spec))
    endpoints = {
        "ec2": proxy.url,
        "moto": env.moto_url,
        "imds": env.imds[0].url,
        "control": control.url,
        "region": env.region,
        "accountId": ACCOUNT_ID,
        "pid": os.getpid(),
        "startupMs": int((time.time() - t0) * 1000),
    }
    control.endpoints = endpoints
    control.start()
    line = json.dumps(endpoints, sort_keys=True)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, args.ready_file)
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        bye()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
