package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peertape/peertape/analyze"
)

func analyzeJSON(t *testing.T, args ...string) analyze.Report {
	t.Helper()
	stdout, stderr, code := peertape(t, append([]string{"analyze", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("analyze %v: exit %d\n%s", args, code, stderr)
	}
	var rep analyze.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("analyze --json: %v\n%s", err, stdout)
	}
	return rep
}

// The injected ping backlog (1m..4m into the archive) is reported with its
// node, times inside the injection, a peak above the threshold, peers, and
// a replay command that really replays the anomaly.
func TestAnalyzeReportsInjectedAnomaly(t *testing.T) {
	arch := synthArchive(t)
	rep := analyzeJSON(t, arch)
	if rep.Schema != analyze.ReportSchema || rep.Events == 0 {
		t.Fatalf("schema %q, %d events", rep.Schema, rep.Events)
	}
	var a *analyze.Anomaly
	for i := range rep.Anomalies {
		if rep.Anomalies[i].Kind == analyze.KindPingBacklog {
			a = &rep.Anomalies[i]
		}
	}
	if a == nil {
		t.Fatalf("no ping-backlog anomaly in %+v", rep.Anomalies)
	}
	const minute = 60_000
	start := int64(1772409600000) // synth's default start, 2026-03-02T00:00:00Z
	if a.Node != "n1" || a.StartMs < start+minute || a.StartMs > start+2*minute || a.EndMs <= a.StartMs || a.EndMs > start+4*minute+10_000 {
		t.Errorf("anomaly node %q, %s → %s; want n1 inside the injection 00:01 → 00:04", a.Node, a.Start, a.End)
	}
	if a.Peak <= 1 || a.Threshold != 1 || a.Unit != "seconds" || len(a.Peers) == 0 || a.PeersTotal < len(a.Peers) {
		t.Errorf("peak %v %s (threshold %v), %d of %d peers", a.Peak, a.Unit, a.Threshold, len(a.Peers), a.PeersTotal)
	}
	prefix := "peertape replay " + arch + " --from "
	if !strings.HasPrefix(a.Replay, prefix) {
		t.Fatalf("replay command %q, want it to start with %q", a.Replay, prefix)
	}
	// Run the command (with a sink) and check it covers the anomaly.
	args := append(strings.Fields(strings.TrimPrefix(a.Replay, "peertape ")), "--speed", "max", "--null", "--summary-json")
	_, stderr, code := peertape(t, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", a.Replay, code, stderr)
	}
	var sum struct {
		Events  uint64 `json:"events"`
		FirstMs int64  `json:"first_event_time_ms"`
		LastMs  int64  `json:"last_event_time_ms"`
	}
	if err := json.Unmarshal([]byte(stderr[strings.LastIndex(stderr, "{"):]), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stderr)
	}
	if sum.Events == 0 || sum.FirstMs > a.StartMs || sum.LastMs < a.EndMs || sum.Events >= rep.Events {
		t.Errorf("the replay command covers %d events %d → %d; anomaly %d → %d, archive %d events", sum.Events, sum.FirstMs, sum.LastMs, a.StartMs, a.EndMs, rep.Events)
	}

	// The table says the same for people.
	out, _, code := peertape(t, "analyze", arch)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"1 anomaly in", "KIND", "ping-backlog", "n1", a.Start, a.Replay, "threshold 1", "ping_backlog_seconds=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// Thresholds are flags: above the injected backlog nothing is reported,
// the exit code stays 0, and the report states the thresholds used.
func TestAnalyzeThresholdFlags(t *testing.T) {
	arch := synthArchive(t)
	rep := analyzeJSON(t, arch, "--ping-backlog", "10s", "--window", "30s", "--cooldown", "1m", "--inbound-flood", "1000")
	for _, a := range rep.Anomalies {
		if a.Kind == analyze.KindPingBacklog {
			t.Errorf("ping-backlog reported with --ping-backlog 10s (peak %v)", a.Peak)
		}
	}
	for k, want := range map[string]float64{"ping_backlog_seconds": 10, "window_seconds": 30, "cooldown_seconds": 60, "inbound_flood": 1000} {
		if got := rep.Thresholds[k]; got != want {
			t.Errorf("threshold %s = %v, want %v", k, got, want)
		}
	}
	out, _, code := peertape(t, "analyze", arch, "--ping-backlog", "10s", "--only", "netmsg")
	if code != 0 || !strings.HasPrefix(out, "0 anomalies in ") {
		t.Errorf("no anomalies: exit %d, output %q", code, out)
	}
	// --margin widens the reproducing command.
	narrow, wide := analyzeJSON(t, arch, "--margin", "0"), analyzeJSON(t, arch, "--margin", "5m")
	if len(narrow.Anomalies) == 0 || narrow.Anomalies[0].Replay == wide.Anomalies[0].Replay {
		t.Errorf("--margin does not change the replay command: %+v", narrow.Anomalies)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	arch := synthArchive(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"analyze"}, 2, "requires at least 1 arg"},
		{[]string{"analyze", arch, "--inbound-flood", "0"}, 2, "--inbound-flood"},
		{[]string{"analyze", arch, "--ping-backlog", "0"}, 2, "--ping-backlog"},
		{[]string{"analyze", arch, "--margin", "-1s"}, 2, "--margin"},
		{[]string{"analyze", arch, "--from", "yesterday"}, 2, "--from"},
		{[]string{"analyze", filepath.Join(t.TempDir(), "missing")}, 1, "missing"},
		{[]string{"analyze", arch, "--node", "other"}, 1, "nothing to analyze"},
	} {
		stdout, stderr, code := peertape(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if stdout != "" && code != 0 {
			t.Errorf("%v: printed a report on failure: %q", tc.args, stdout)
		}
	}
}

func TestAnalyzeHelp(t *testing.T) {
	out, _, code := peertape(t, "analyze", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Examples:", "--json", "--ping-backlog", "--orphan-flood", "--reject-spike", "--mutated-blocks", "--misbehaving-burst", "--inbound-flood", "--window", "--cooldown", "Exit code 0 whether or not"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// Two nodes' archives: anomalies carry their node, and each reproducing
// command selects that node.
func TestAnalyzeTwoNodes(t *testing.T) {
	a := synthArchive(t)
	b := filepath.Join(t.TempDir(), "n2")
	if _, stderr, code := peertape(t, "synth", "-o", b, "--node", "n2", "--duration", "3m", "--rate", "60", "--anomaly", "inbound-flood@1m:30s"); code != 0 {
		t.Fatalf("synth: exit %d\n%s", code, stderr)
	}
	rep := analyzeJSON(t, a, b)
	kinds := map[string]string{}
	for _, an := range rep.Anomalies {
		kinds[an.Kind] = an.Node
		if !strings.HasSuffix(an.Replay, " --node "+an.Node) || !strings.Contains(an.Replay, a+" "+b+" --from ") {
			t.Errorf("%s on %s: replay command %q does not select its node", an.Kind, an.Node, an.Replay)
		}
	}
	if kinds[analyze.KindPingBacklog] != "n1" || kinds[analyze.KindInboundFlood] != "n2" {
		t.Errorf("anomalies by kind → node: %v; want ping-backlog on n1, inbound-flood on n2", kinds)
	}
}
