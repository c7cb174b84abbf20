# bench/table.jq: results.json (machine, runs, sizes) -> .table (one object per printed line, with the targets).
def r($row; $side): (.runs | map(select(.row == $row and .side == $side))[0]);
def ms: . / 1000 | (. * 100 | round) / 100;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b * 1000 | round) / 1000 end;
def cyc($row; $side): r($row; $side).cycle;
def line($id; $what; $o; $rname; $rf; $target; $limit):
  {id: $id, what: $what, ours: ($o | if . then {median_ms: (.median_us|ms), min_ms: (.min_us|ms), max_ms: (.max_us|ms)} else null end),
   reference: $rname,
   ref: ($rf | if . then {median_ms: (.median_us|ms), min_ms: (.min_us|ms), max_ms: (.max_us|ms)} else null end),
   ratio: ratio($o.median_us; $rf.median_us), target: $target,
   met: (if $limit == null or $o == null or $rf == null then null else (ratio($o.median_us; $rf.median_us) <= $limit) end)};
def size($b): (.sizes | map(select(.binary == $b))[0].bytes);
def hwm($s): r("rss"; $s).vmhwm_kb.median;
. as $R
| [
  line("1"; "ipvlan ADD+DEL (UML 6.1)"; cyc("ipvlan"; "ours"); "ipvlan+host-local"; cyc("ipvlan"; "reference"); "<= 0.4"; 0.4),
  line("2"; "host-device ADD+DEL (host kernel, veth)"; cyc("host-device"; "ours"); "host-device+host-local"; cyc("host-device"; "reference"); "<= 0.75"; 0.75),
  ((0, 1000, 10000) as $k
  | line("3"; "host-device cycle, /16 with \($k) live"; cyc("ipam-\($k)"; "ours"); "host-device+host-local"; cyc("ipam-\($k)"; "reference"); null; null)),
  ((0, 1000, 10000) as $k
  | line("3"; "IPAM alone, /16 with \($k) live"; cyc("ipam-\($k)"; "ours-ipam"); "host-local alone"; cyc("ipam-\($k)"; "host-local");
         (if $k == 10000 then "<= 0.2" elif $k == 0 then "<= 0.5" else null end); (if $k == 10000 then 0.2 elif $k == 0 then 0.5 else null end))),
  line("3"; "IPAM alone: ours at 10000 vs ours at 0"; cyc("ipam-10000"; "ours-ipam"); "ours alone at 0 live"; cyc("ipam-0"; "ours-ipam"); "<= 1.2"; 1.2),
  line("3"; "host-device cycle: ours at 10000 vs at 0"; cyc("ipam-10000"; "ours"); "ours at 0 live"; cyc("ipam-0"; "ours"); null; null),
  (("ipvlan", "host-local", "host-device") as $g
  | line("4"; "VERSION exec"; r("version"; "ours").exec; $g; r("version"; $g).exec; "<= 0.5"; 0.5)),
  (("ipvlan", "host-local", "host-device") as $g
  | {id: "4", what: "peak RSS (VmHWM, kB)", ours: {median_kb: hwm("ours")}, reference: $g, ref: {median_kb: hwm($g)},
     ratio: ratio(hwm("ours"); hwm($g)), target: "<= 1.0", met: (if hwm("ours") and hwm($g) then hwm("ours") <= hwm($g) else null end)}),
  (("ipvlan", "host-local", "host-device") as $g
  | {id: "4", what: "stripped size (bytes)", ours: {bytes: size("eni-multus")}, reference: $g, ref: {bytes: size($g)},
     ratio: ratio(size("eni-multus"); size($g)),
     target: (if $g == "host-device" then "<= 1.0" else null end),
     met: (if $g == "host-device" and size("eni-multus") and size($g) then size("eni-multus") <= size($g) else null end)}),
  (("perip", "ec2", "ec2warm", "prefix") as $m
  | r("ec2-\($m)"; "ec2-calls") as $c
  | if $c == null then {id: "5", what: "EC2 \($m) mode", na: "not run (BENCH_N_EC2=0)", target: null, met: null}
    else
    {id: "5", what: ({perip: "EC2 per-IP (ranges + eni) ADD+DEL", ec2: "EC2 ec2 mode ADD+DEL", ec2warm: "EC2 ec2 mode, warm pool 4, ADD+DEL",
                      prefix: "EC2 prefix mode ADD+DEL"}[$m]),
     ours: (cyc("ec2-\($m)"; "ours") | {median_ms: (.median_us|ms), min_ms: (.min_us|ms), max_ms: (.max_us|ms)}),
     add: (r("ec2-\($m)"; "ours").add | {median_ms: (.median_us|ms)}), del: (r("ec2-\($m)"; "ours").del | {median_ms: (.median_us|ms)}),
     calls: $c,
     target: ({perip: "1 per ADD, 1 per DEL", ec2: null, ec2warm: "<= 1 call / 16 ADDs", prefix: "<= 1 call / 16 ADDs"}[$m]),
     met: (if $m == "perip" then ($c.laterAddCallsMax == 1 and $c.laterAddCallsMin == 1 and $c.delCallsMax == 1 and $c.delCallsMin == 1)
           elif $m == "prefix" or $m == "ec2warm" then (($c.total - ($c.firstAdd.actions.DescribeNetworkInterfaces // 0) - ($c.firstAdd.actions.DescribeInstanceTypes // 0)) <= (($c.adds + 15) / 16 | floor))
           else null end)}
    end),
  (r("ec2-ec2warm"; "ours").add as $w | r("host-device"; "ours").add as $h
   | if $w == null then empty else
     line("5"; "ADD with registration (ec2, warm pool) vs the same ADD without EC2 (row 2)"; $w; "host-device ADD, ranges IPAM"; $h; "<= 1.3"; 1.3)
     end),
  (r("ec2-latency"; "emulator") as $l | if $l then {id: "5", what: "emulator latency (median)", text: "IMDS GET \($l.imds_get_ms) ms, EC2 call \($l.ec2_call_ms) ms (Python: moto + proxy)", met: null} else empty end),
  line("6"; "floor: ours ipvlan ADD+DEL vs libmnl C"; cyc("ipvlan"; "ours"); "floor (C, libmnl)"; cyc("ipvlan"; "floor"); "<= 2.0"; 2.0),
  line("6"; "floor: ours host-device ADD+DEL vs libmnl C"; cyc("host-device"; "ours"); "floor (C, libmnl)"; cyc("host-device"; "floor"); "<= 1.15"; 1.15)
]
