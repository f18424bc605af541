package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/proto/pb"
)

// TestInfoFields: every field issue 3 lists for info, in the human and
// the JSON output, for a complete segment with metadata flags and a torn
// .partial.
func TestInfoFields(t *testing.T) {
	dir := t.TempDir()
	evs := testevents.Mixed(2000, 41, 1_700_000_000_000)
	meta := &pb.SegmentMeta{Node: "alice", Implementation: "Bitcoin Core", Source: "nats nats://x *", Recorder: "peertape test",
		CreatedMs: 1_700_000_000_000, LowData: true, Sanitization: &pb.Sanitization{KeyFingerprint: "abcd1234"}}
	seg := writeSegment(t, dir, "alice-20231114T221320Z-000000.seg.zst", evs, format.WriterOptions{Meta: meta, FrameSize: 16 << 10})
	data, _ := os.ReadFile(seg)
	torn := filepath.Join(dir, "torn.seg.zst.partial")
	os.WriteFile(torn, data[:len(data)/2], 0o644)

	out, stderr, code := peertape(t, "info", seg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var netmsg, inv int
	for _, ev := range evs {
		if ev.Kind == event.NetMsg {
			netmsg++
			if ev.Type == "inv" {
				inv++
			}
		}
	}
	for _, want := range []string{
		"format:      peertape-v1 (complete)", "node:        alice (Bitcoin Core", "source:      nats nats://x *",
		"created:     2023-11-14T22:13:20.000Z", "events:      2,000", "time:        " + event.FormatTime(evs[0].Time),
		"compressed", "raw, ratio", "bytes/event", "frames:", "low-data", "sanitized (key abcd1234)",
		"kinds:", "messages:", "inv", formatCount(uint64(inv)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = peertape(t, "info", "--json", seg, torn)
	var sums []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &sums) != nil || len(sums) != 2 {
		t.Fatalf("info --json: exit %d\n%s", code, out)
	}
	s := sums[0]
	for key, want := range map[string]any{
		"format": "peertape-v1", "node": "alice", "implementation": "Bitcoin Core", "source": "nats nats://x *",
		"created_ms": float64(1_700_000_000_000), "complete": true, "status": "complete", "events": float64(2000),
		"first_event_time_ms": float64(evs[0].Time), "last_event_time_ms": float64(evs[len(evs)-1].Time),
		"low_data": true, "sanitized": true,
	} {
		if s[key] != want {
			t.Errorf("%s = %v, want %v", key, s[key], want)
		}
	}
	for _, key := range []string{"duration_ms", "bytes_compressed", "bytes_raw", "bytes_per_event", "compression_ratio", "frames"} {
		if v, _ := s[key].(float64); v <= 0 {
			t.Errorf("%s = %v, want > 0", key, s[key])
		}
	}
	if k, _ := s["kinds"].(map[string]any); k["netmsg"] != float64(netmsg) {
		t.Errorf("kinds %v, want netmsg %d", s["kinds"], netmsg)
	}
	if c, _ := s["commands"].(map[string]any); c["inv"] != float64(inv) {
		t.Errorf("commands %v, want inv %d", s["commands"], inv)
	}
	p := sums[1]
	if p["complete"] != false || p["status"] != "torn" || p["dropped_bytes"].(float64) <= 0 || p["events"].(float64) <= 0 {
		t.Errorf("torn .partial: complete %v status %v dropped %v events %v", p["complete"], p["status"], p["dropped_bytes"], p["events"])
	}
}
