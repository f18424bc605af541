#!/usr/bin/env bash
# make demo: the main job of peertape end to end on the embedded default —
# no bitcoind, no external NATS server. It generates a synthetic mainnet
# archive with two injected anomalies, inspects it, replays it into the
# analyzers (offline) and into an embedded NATS server feeding the live
# exporter (online), shows that both give the same metrics, finds the
# anomalies, cuts one out, and sanitizes the archive for sharing.
#
# Everything lands in demo/ (removed first). Each step prints the command
# it runs, so the output reads like a terminal session.
set -euo pipefail

PEERTAPE=${PEERTAPE:-bin/peertape}
OUT=${DEMO_DIR:-demo}
NATS_PORT=${DEMO_NATS_PORT:-14222}
METRICS_PORT=${DEMO_METRICS_PORT:-18282}

step() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}
# Prints the first lines of a command's output without making the command
# fail on SIGPIPE.
head_of() {
	local n=$1
	shift
	printf '$ %s | head -%d\n' "$*" "$n"
	"$@" | head -"$n" || true
}

rm -rf "$OUT"
mkdir -p "$OUT"

step "1. A synthetic archive: 15 minutes of a mainnet node, a ping backlog at 5m and an inbound flood at 11m"
run "$PEERTAPE" synth -o "$OUT/archive" --node demo-1 --duration 15m --seed 1 \
	--anomaly ping-backlog@5m:4m --anomaly inbound-flood@11m

step "2. What is in it, and is it intact?"
run "$PEERTAPE" info "$OUT/archive"
run "$PEERTAPE" verify "$OUT/archive"
head_of 4 "$PEERTAPE" cat "$OUT/archive" --from +5m --kind netmsg:ping

step "3. Replay flat out into the analyzers; the final exposition goes to a file"
run "$PEERTAPE" replay "$OUT/archive" --speed max --metrics-out "$OUT/metrics.txt"
grep -E '^(peerobserver_conn_inbound |peertape_anomalies_total|peertape_ping_response_seconds_count)' "$OUT/metrics.txt" || true

step "4. The same archive through NATS into the live exporter: identical numbers"
"$PEERTAPE" metrics --embedded-nats --listen "127.0.0.1:$NATS_PORT" --addr "127.0.0.1:$METRICS_PORT" \
	--no-process-metrics 2>"$OUT/metrics.log" &
exporter=$!
trap 'kill $exporter 2>/dev/null || true' EXIT
printf '$ %s metrics --embedded-nats --listen 127.0.0.1:%s --addr 127.0.0.1:%s --no-process-metrics &\n' \
	"$PEERTAPE" "$NATS_PORT" "$METRICS_PORT"
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && break
	kill -0 $exporter 2>/dev/null || { cat "$OUT/metrics.log"; exit 1; }
	sleep 0.1
done
run "$PEERTAPE" replay "$OUT/archive" --speed max --nats "nats://127.0.0.1:$NATS_PORT"
# The exporter consumes asynchronously: wait until it has seen every event.
for _ in $(seq 300); do
	curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" >"$OUT/live.txt"
	cmp -s "$OUT/live.txt" "$OUT/metrics.txt" && break
	sleep 0.1
done
printf '$ curl -s http://127.0.0.1:%s/metrics > %s && cmp %s %s\n' "$METRICS_PORT" "$OUT/live.txt" "$OUT/live.txt" "$OUT/metrics.txt"
if ! cmp "$OUT/live.txt" "$OUT/metrics.txt"; then
	diff "$OUT/metrics.txt" "$OUT/live.txt" | head -20
	exit 1
fi
echo "live and offline expositions are byte-identical ($(wc -l <"$OUT/metrics.txt") lines)"
kill $exporter
wait $exporter 2>/dev/null || true
trap - EXIT

step "5. The anomaly report, with the command that reproduces each anomaly"
run "$PEERTAPE" analyze "$OUT/archive"

step "6. Cut out the ping backlog as a fixture, byte for byte"
run "$PEERTAPE" filter "$OUT/archive" -o "$OUT/ping-backlog" --from +5m --to +9m
run "$PEERTAPE" info "$OUT/ping-backlog"

step "7. Sanitize for sharing: every address pseudonymized, then checked for leaks"
run "$PEERTAPE" sanitize --new-key "$OUT/demo.key"
run "$PEERTAPE" sanitize "$OUT/ping-backlog" -o "$OUT/shared" --key-file "$OUT/demo.key"
run "$PEERTAPE" sanitize --check "$OUT/shared" --original "$OUT/ping-backlog"

printf '\nAll demo output is in %s/.\n' "$OUT"
