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
  "build:   \(.machine.build); reference: \(.machine.reference_plugins)",
  "times in ms: median [min-max]",
  "",
  ("# " + ("what" | pad(42)) + ("ours" | pad(24)) + ("reference" | pad(24)) + ("ref" | pad(24)) + ("ratio" | lpad(7)) + "  target    met"),
  (.table[] |
    if .na then "\(.id) \(.what | pad(42))\(.na)" + (if .target then "   (target \(.target))" else "" end)
    else "\(.id) \(.what | pad(42))\(.ours | trip | pad(24))\(.reference | pad(24))\(.ref | trip | pad(24))\(.ratio // "-" | lpad(7))  \(.target // "-" | pad(8))  \(if .met == null then "" elif .met then "yes" else "NO" end)"
    end)' "$f"
