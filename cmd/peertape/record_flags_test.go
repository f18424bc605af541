package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testevents"
	"github.com/peertape/peertape/record"
)

// parseRecordFlags parses args into a fresh copy of record's default flags
// and returns the recorder options they produce.
func parseRecordFlags(t *testing.T, args ...string) (*recordFlags, record.Options, error) {
	t.Helper()
	f := *recordOpts // defaults; the copy keeps the package's flags untouched
	cmd := newRecordCmd(&f)
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	o, err := f.options()
	return &f, o, err
}

// TestRecordFlagDefaults: the defaults issue 4 names.
func TestRecordFlagDefaults(t *testing.T) {
	f, o, err := parseRecordFlags(t, "--dir", "d", "--node", "n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"--max-segment-size", o.MaxSegmentSize, int64(256 << 20)},
		{"--max-segment-age", o.MaxSegmentAge, time.Hour},
		{"--flush-interval", o.FlushInterval, time.Second},
		{"--fsync", o.Fsync, format.FsyncInterval},
		{"--retain-size", o.RetainSize, int64(0)},
		{"--retain-age", o.RetainAge, time.Duration(0)},
		{"--level", o.Level, format.DefaultLevel},
		{"--low-data", o.LowData, false},
		{"--compact", o.Compact == nil, true},
		{"--metrics-addr", f.metricsAddr, "127.0.0.1:8283"},
		{"--listen", f.listen, "127.0.0.1:4222"},
		{"--max-payload", int64(f.maxPayload), int64(5 << 20)},
		{"--only/--exclude", o.Filter.Empty(), true},
	} {
		if c.got != c.want {
			t.Errorf("%s default: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestRecordFlagsReachOptions: every flag issue 4 names reaches the
// recorder's options.
func TestRecordFlagsReachOptions(t *testing.T) {
	f, o, err := parseRecordFlags(t, "--dir", "/srv/tape", "--node", "alice",
		"--only", "netmsg,rpc", "--exclude", "netmsg:ping", "--low-data",
		"--max-segment-size", "64MiB", "--max-segment-age", "24h",
		"--retain-size", "200GiB", "--retain-age", "720h",
		"--flush-interval", "250ms", "--fsync", "always", "--fsync-interval", "3s",
		"--compact", "--compact-level", "17", "--level", "5",
		"--metrics-addr", "127.0.0.1:9999", "--subjects", "netmsg,rpc", "--label", "site=ams")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"--dir", o.Dir, "/srv/tape"},
		{"--node", o.Node, "alice"},
		{"--only", strings.Join(o.Filter.Only(), ","), "netmsg,rpc"},
		{"--exclude", strings.Join(o.Filter.Exclude(), ","), "netmsg:ping"},
		{"--low-data", o.LowData, true},
		{"--max-segment-size", o.MaxSegmentSize, int64(64 << 20)},
		{"--max-segment-age", o.MaxSegmentAge, 24 * time.Hour},
		{"--retain-size", o.RetainSize, int64(200 << 30)},
		{"--retain-age", o.RetainAge, 720 * time.Hour},
		{"--flush-interval", o.FlushInterval, 250 * time.Millisecond},
		{"--fsync", o.Fsync, format.FsyncAlways},
		{"--fsync-interval", o.FsyncInterval, 3 * time.Second},
		{"--compact", o.Compact != nil, true},
		{"--compact-level", o.CompactLevel, 17},
		{"--level", o.Level, 5},
		{"--metrics-addr", f.metricsAddr, "127.0.0.1:9999"},
		{"--subjects", strings.Join(f.subjects, ","), "netmsg,rpc"},
		{"--label", o.Labels["site"], "ams"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	// The filter does what the flags say.
	seen := map[bool]int{}
	for _, ev := range testevents.Mixed(2000, 5, 1_700_000_000_000) {
		want := (ev.Kind == event.NetMsg && ev.Type != "ping") || ev.Kind == event.RPC
		if got := o.Filter.Match(ev); got != want {
			t.Fatalf("filter on %s:%s = %v, want %v", ev.Kind, ev.Type, got, want)
		}
		seen[want]++
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("test events do not exercise the filter: %v", seen)
	}

	// --max-segment-age 0 disables age rotation; --fsync segment parses.
	_, o, err = parseRecordFlags(t, "--dir", "d", "--node", "n", "--max-segment-age", "0", "--fsync", "segment")
	if err != nil || o.MaxSegmentAge >= 0 || o.Fsync != format.FsyncSegment {
		t.Fatalf("age %v fsync %v err %v", o.MaxSegmentAge, o.Fsync, err)
	}
}

// TestRecordCLIFilterAndLowData: record --only/--exclude/--low-data as a
// user runs it: exactly the selected events are recorded, stripped of raw
// transactions and blocks, and info shows both marks.
func TestRecordCLIFilterAndLowData(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "n1", "--embedded-nats", "--listen", "127.0.0.1:0",
		"--only", "netmsg,rpc", "--exclude", "netmsg:ping", "--low-data")
	evs := testevents.Mixed(3000, 9, 1_700_000_000_000)
	f, err := event.NewFilter([]string{"netmsg", "rpc"}, []string{"netmsg:ping"})
	if err != nil {
		t.Fatal(err)
	}
	var want []event.Event
	stripped := 0
	for _, ev := range evs {
		if !f.Match(ev) {
			continue
		}
		s, changed, err := event.StripLowData(ev)
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			stripped++
		}
		want = append(want, s)
	}
	if stripped == 0 || len(want) == len(evs) {
		t.Fatalf("test events exercise neither the filter nor --low-data (%d stripped, %d of %d kept)", stripped, len(want), len(evs))
	}
	_, pub := publisher(t, p.natsURL)
	publishAll(t, pub, evs)
	pollUntil(t, "every event handled", func() bool {
		return p.metric("peertape_record_events_total")+p.metric("peertape_record_filtered_events_total") == float64(len(evs))
	})
	if code := p.signal(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	finished(t, dir)
	sameBytes(t, readAll(t, dir), want)
	sums := infoJSON(t, dir)
	if len(sums) != 1 || !sums[0].LowData || sums[0].Filter == nil || strings.Join(sums[0].Filter.GetExclude(), ",") != "netmsg:ping" {
		t.Fatalf("info: %+v", sums)
	}
}
