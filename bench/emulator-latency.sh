#!/bin/bash
# bench/emulator-latency.sh IMDS-URL EC2-URL ENI-ID MAC: the EC2 emulator's own latency, run in the emulator's netns
# by bench/run.sh (row 5). 20 IMDS GETs (local-ipv4s of the ENI's MAC, with an IMDSv2 token) timed by curl; 10
# DescribeNetworkInterfaces through the counting proxy timed by boto3 (client overhead included, a few ms).
# Prints one JSON object: medians in ms.
set -euo pipefail
imds=$1 ec2=$2 eni=$3 mac=$4
tok=$(curl -sS --fail --noproxy '*' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token")
imds_s=$(for _ in $(seq 1 20); do
	curl -sS --fail --noproxy '*' -o /dev/null -w '%{time_total}\n' -H "X-aws-ec2-metadata-token: $tok" \
		"$imds/latest/meta-data/network/interfaces/macs/$mac/local-ipv4s"
done)
ec2_s=$(AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_CONFIG_FILE=/dev/null NO_PROXY='*' python3 -c '
import sys, time
import boto3
c = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
c.describe_network_interfaces(NetworkInterfaceIds=[sys.argv[2]])
for _ in range(10):
    t = time.monotonic()
    c.describe_network_interfaces(NetworkInterfaceIds=[sys.argv[2]])
    print(time.monotonic() - t)
' "$ec2" "$eni")
jq -n -c --arg i "$imds_s" --arg e "$ec2_s" '
	def med: map(tonumber * 1000) | sort | .[length / 2 | floor] | . * 10 | round / 10;
	{row: "ec2-latency", side: "emulator", imds_get_ms: ($i | split("\n") | map(select(. != "")) | med),
	 ec2_call_ms: ($e | split("\n") | map(select(. != "")) | med)}'
