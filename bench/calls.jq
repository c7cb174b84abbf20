# bench/calls.jq (jq -s --arg row ROW): row 5's hook records (one per exec, in order: {verb, iter, ec2: the proxy's
# cumulative counts by action, imds: cumulative IMDS requests}) -> one summary object: the EC2 calls and IMDS
# requests each ADD and DEL made (the difference from the previous record), the node's first ADD separately.
def total: [.[]] | add // 0;
. as $r
| [range(0; length) as $k | $r[$k] + {
    calls: (($r[$k].ec2 | total) - (if $k == 0 then 0 else ($r[$k - 1].ec2 | total) end)),
    actions: ($r[$k].ec2 | with_entries(.value -= (if $k == 0 then 0 else ($r[$k - 1].ec2[.key] // 0) end))
              | with_entries(select(.value != 0))),
    imdsRequests: ($r[$k].imds - (if $k == 0 then 0 else $r[$k - 1].imds end))}] as $e
| ($e | map(select(.verb == "ADD"))) as $adds
| ($e | map(select(.verb == "DEL"))) as $dels
| {row: $row, side: "ec2-calls", adds: ($adds | length), dels: ($dels | length),
   firstAdd: {calls: $adds[0].calls, actions: $adds[0].actions, imdsRequests: $adds[0].imdsRequests},
   laterAddCalls: ($adds[1:] | map(.calls)), delCalls: ($dels | map(.calls)),
   laterAddCallsMax: ($adds[1:] | map(.calls) | max), laterAddCallsMin: ($adds[1:] | map(.calls) | min),
   delCallsMax: ($dels | map(.calls) | max), delCallsMin: ($dels | map(.calls) | min),
   callsPerAdd: (($adds | map(.calls) | add) / ($adds | length)),
   callsPerDel: (($dels | map(.calls) | add) / ($dels | length)),
   imdsPerAdd: (($adds[1:] | map(.imdsRequests) | add) / (($adds | length) - 1)),
   imdsPerDel: (($dels | map(.imdsRequests) | add) / ($dels | length)),
   byAction: ($r[-1].ec2), total: ($r[-1].ec2 | total),
   addActions: ($adds | map(.actions) | map(to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
   delActions: ($dels | map(.actions) | map(to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries)}
