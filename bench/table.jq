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
  line("1"; "ipvlan ADD+DEL (UML 6.1)"; cyc("ipvlan"; "ours"); "ipvlan+host-local"; cyc("ipvlan"; "reference"); "<= 0.5"; 0.5),
  line("2"; "host-device ADD+DEL (host kernel, veth)"; cyc("host-device"; "ours"); "host-device+host-local"; cyc("host-device"; "reference"); "<= 0.5"; 0.5),
  ((0, 1000, 10000) as $k
  | line("3"; "IPAM /16, \($k) live: ADD+DEL"; cyc("ipam-\($k)"; "ours"); "host-device+host-local"; cyc("ipam-\($k)"; "reference"); null; null)),
  line("3"; "IPAM /16, 10000 live vs host-local alone"; cyc("ipam-10000"; "ours"); "host-local (IPAM only)"; cyc("ipam-10000"; "host-local"); "<= 0.2"; 0.2),
  line("3"; "IPAM ours at 10000 vs ours at 0"; cyc("ipam-10000"; "ours"); "ours at 0 live"; cyc("ipam-0"; "ours"); "<= 1.2"; 1.2),
  (("ipvlan", "host-local", "host-device") as $g
  | line("4"; "VERSION exec"; r("version"; "ours").exec; $g; r("version"; $g).exec; "<= 1.0"; 1.0)),
  (("ipvlan", "host-local", "host-device") as $g
  | {id: "4", what: "peak RSS (VmHWM, kB)", ours: {median_kb: hwm("ours")}, reference: $g, ref: {median_kb: hwm($g)},
     ratio: ratio(hwm("ours"); hwm($g)), target: "<= 1.0", met: (if hwm("ours") and hwm($g) then hwm("ours") <= hwm($g) else null end)}),
  (("ipvlan", "host-local", "host-device") as $g
  | {id: "4", what: "stripped size (bytes)", ours: {bytes: size("eni-multus")}, reference: $g, ref: {bytes: size($g)},
     ratio: ratio(size("eni-multus"); size($g)), target: null, met: null}),
  (("per-IP mode", "ec2 mode", "prefix mode") as $m
  | {id: "5", what: "EC2 registration, \($m)", na: "n/a (EC2 layer not built yet)", target: (if $m == "prefix mode" then "<= 1 EC2 call / 16 ADDs" elif $m == "per-IP mode" then "1 call per ADD, 1 per DEL" else null end), met: null}),
  line("6"; "floor: ours ipvlan ADD+DEL vs libmnl C"; cyc("ipvlan"; "ours"); "floor (C, libmnl)"; cyc("ipvlan"; "floor"); null; null)
]
