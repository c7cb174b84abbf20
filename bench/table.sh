#!/bin/bash
# bench/table.sh RESULTS.json: adds .table (bench/table.jq) to the file and prints it as text.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
f=$1
tmp=$(mktemp)
jq --slurpfile t <(jq -f "$here/table.jq" "$f") '. + {table: $t[0]}' "$f" >"$tmp" && mv "$tmp" "$f"
jq -r '
  def pad($n): tostring | if length < $n then . + (" " * ($n - length)) else . end;
  def lpad($n): tostring | if length < $n then (" " * ($n - length)) + . else . end;
  def trip: if . == null then "-" elif .median_ms != null then "\(.median_ms) [\(.min_ms)-\(.max_ms)]"
            elif .median_kb != null then "\(.median_kb) kB" else "\(.bytes)" end;
  "machine: \(.machine.cpu), \(.machine.cores) cores, kernel \(.machine.kernel), \(.machine.date)",
  "load:    \(.machine.load_before // "?") (before) / \(.machine.load_after // "?") (after)  [uptime load averages 1/5/15 min]",
  "build:   \(.machine.build); reference: \(.machine.reference_plugins)",
  "times in ms: median [min-max]",
  "",
  ("# " + ("what" | pad(42)) + ("ours" | pad(24)) + ("reference" | pad(24)) + ("ref" | pad(24)) + ("ratio" | lpad(7)) + "  target    met"),
  (.table[] |
    if .na then "\(.id) \(.what | pad(42))\(.na)" + (if .target then "   (target \(.target))" else "" end)
    elif .text then "\(.id) \(.what | pad(42))\(.text)"
    elif .calls then
      "\(.id) \(.what | pad(42))\(.ours | trip | pad(24))ADD \(.add.median_ms) / DEL \(.del.median_ms) ms; EC2 calls: first ADD \(.calls.firstAdd.calls) \(.calls.firstAdd.actions | tojson), later ADDs \(.calls.laterAddCallsMin)-\(.calls.laterAddCallsMax), DELs \(.calls.delCallsMin)-\(.calls.delCallsMax) (total \(.calls.total) over \(.calls.adds) ADD+DEL); IMDS requests per ADD \(.calls.imdsPerAdd | . * 10 | round / 10), per DEL \(.calls.imdsPerDel | . * 10 | round / 10)  target \(.target // "-")  \(if .met == null then "" elif .met then "yes" else "NO" end)"
    else "\(.id) \(.what | pad(42))\(.ours | trip | pad(24))\(.reference | pad(24))\(.ref | trip | pad(24))\(.ratio // "-" | lpad(7))  \(.target // "-" | pad(8))  \(if .met == null then "" elif .met then "yes" else "NO" end)"
    end)' "$f"
