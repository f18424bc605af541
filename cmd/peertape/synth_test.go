package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSynthCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := peertape(t, "synth", "-o", dir, "--node", "n1", "--duration", "150", "--rate", "300", "--seed", "3",
		"--segment-duration", "1m", "--anomaly", "misbehaving@30s:1m", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep synthReportJSON
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if len(rep.Files) != 3 || rep.Events < 150*300*9/10 || rep.Seed != 3 || rep.Node != "n1" || len(rep.Anomalies) != 1 ||
		rep.Anomalies[0].Kind != "misbehaving" || rep.Anomalies[0].Count == 0 || rep.Bytes <= 0 || rep.BytesRaw <= rep.Bytes {
		t.Fatalf("report %+v", rep)
	}
	// info sees a complete, synthetic archive with the same count.
	out, stderr, code := peertape(t, "info", "--json", dir)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, stderr)
	}
	var infos []struct {
		Events    uint64 `json:"events"`
		Complete  bool   `json:"complete"`
		Synthetic bool   `json:"synthetic"`
		Node      string `json:"node"`
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, in := range infos {
		if !in.Complete || !in.Synthetic || in.Node != "n1" {
			t.Fatalf("info %+v", in)
		}
		total += in.Events
	}
	if len(infos) != 3 || total != rep.Events {
		t.Fatalf("info: %d files, %d events; synth said %d", len(infos), total, rep.Events)
	}
	// The same command writes the same bytes.
	dir2 := filepath.Join(t.TempDir(), "again")
	if _, stderr, code := peertape(t, "synth", "-o", dir2, "--node", "n1", "--duration", "150", "--rate", "300", "--seed", "3",
		"--segment-duration", "1m", "--anomaly", "misbehaving@30s:1m"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range rep.Files {
		a, _ := os.ReadFile(f)
		b, _ := os.ReadFile(filepath.Join(dir2, filepath.Base(f)))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two runs", filepath.Base(f))
		}
	}
	// A second run into the same directory refuses to overwrite.
	_, stderr, code = peertape(t, "synth", "-o", dir, "--node", "n1", "--duration", "10")
	if code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("overwrite: exit %d: %s", code, stderr)
	}
}

func TestSynthHumanSummary(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := peertape(t, "synth", "-o", dir, "--node", "demo", "--duration", "1m", "--anomaly", "inbound-flood@10s:20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote ") || !strings.Contains(stdout, "in 1 segment") ||
		!strings.Contains(stdout, "inbound-flood@10s:20s 2026-03-02T00:00:10.000Z .. 2026-03-02T00:00:30.000Z") || !strings.Contains(stdout, ".0/24") {
		t.Fatalf("summary %q", stdout)
	}
}

func TestSynthUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"synth", "--node", "x", "--duration", "1m"}, "-o DIR is required"},
		{[]string{"synth", "-o", "d", "--duration", "1m"}, "--node NAME is required"},
		{[]string{"synth", "-o", "d", "--node", "x"}, "--duration is required"},
		{[]string{"synth", "-o", "d", "--node", "x", "--duration", "1m", "--anomaly", "eclipse@10s"}, `unknown kind "eclipse"`},
		{[]string{"synth", "-o", "d", "--node", "x", "--duration", "1m", "--anomaly", "ping-backlog@50s:1m"}, "must end"},
		{[]string{"synth", "-o", "d", "--node", "x", "--duration", "1m", "--rate", "5"}, "rate 5 events/s is outside"},
		{[]string{"synth", "-o", "d", "--node", "x", "--duration", "1m", "--start", "yesterday"}, "RFC 3339"},
		{[]string{"synth", "-o", "d", "--node", "x", "--duration", "soon"}, "duration"},
	}
	for _, c := range cases {
		_, stderr, code := peertape(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

func TestSynthHelp(t *testing.T) {
	stdout, _, code := peertape(t, "synth", "--help")
	if code != 0 || !strings.Contains(stdout, "Examples:") && !strings.Contains(stdout, "Example") || !strings.Contains(stdout, "ping-backlog") {
		t.Fatalf("help: exit %d\n%s", code, stdout)
	}
}
