package sanitize

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/peertape/peertape/analyze"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/replay"
	"github.com/peertape/peertape/synth"
)

// analyzeDir replays dir at full speed into a fresh analyzer engine and
// returns its anomaly report, its metrics as "name{labels} value" lines
// and the events per selector.
func analyzeDir(t *testing.T, dir string) (*analyze.Report, []string, map[string]int) {
	t.Helper()
	eng, err := analyze.New(analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := replay.Open([]string{dir}, replay.Speed(replay.Max))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	counts := map[string]int{}
	if err := r.Run(context.Background(), event.SinkFunc(func(ev event.Event) error {
		counts[ev.Selector()]++
		return eng.Consume(ev)
	})); err != nil {
		t.Fatal(err)
	}
	mfs, err := eng.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			lines = append(lines, mf.GetName()+labels(m)+" "+value(m))
		}
	}
	sort.Strings(lines)
	return eng.Report(), lines, counts
}

// labels renders m's labels, with every address-valued label (a subnet,
// an IP) as <addr>: those are the pseudonyms, compared as a multiset.
func labels(m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		v := l.GetValue()
		if _, err := netip.ParseAddr(v); err == nil {
			v = "<addr>"
		} else if _, err := netip.ParsePrefix(v); err == nil {
			v = "<addr>"
		}
		ls = append(ls, l.GetName()+"="+v)
	}
	return "{" + strings.Join(ls, ",") + "}"
}

func value(m *dto.Metric) string {
	switch {
	case m.Counter != nil:
		return fmt.Sprint(m.GetCounter().GetValue())
	case m.Gauge != nil:
		return fmt.Sprint(m.GetGauge().GetValue())
	case m.Histogram != nil:
		return fmt.Sprint(m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum())
	case m.Summary != nil:
		return fmt.Sprint(m.GetSummary().GetSampleCount())
	}
	return "?"
}

// TestSanitizeThenAnalyze: a synthetic honeynode archive with anomalies,
// sanitized (no time shift), replayed into the analyzers gives the same
// events per kind, the same anomalies (kind, node, time, size) and the same
// metrics; series labelled with an address (per-subnet counts) carry
// the pseudonym instead, so they are compared with the address blanked.
func TestSanitizeThenAnalyze(t *testing.T) {
	in := t.TempDir()
	o := synth.Options{Node: "honeypot", Start: time.UnixMilli(archiveStart).UTC(), Duration: 4 * time.Minute, Rate: 400, Seed: 3,
		Anomalies: []synth.Anomaly{{Kind: synth.InboundFlood, Offset: 30 * time.Second, Duration: time.Minute},
			{Kind: synth.Misbehaving, Offset: 2 * time.Minute, Duration: time.Minute}}}
	if testing.Short() {
		o.Duration = 3 * time.Minute
	}
	if _, err := synth.WriteArchive(context.Background(), in, o, synth.ArchiveOptions{SegmentDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Archive(context.Background(), testKey(t, 8), []string{in}, out, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	repIn, mIn, cIn := analyzeDir(t, in)
	repOut, mOut, cOut := analyzeDir(t, out)

	if len(cIn) < 10 {
		t.Fatalf("only %d kinds of events in the synthetic archive", len(cIn))
	}
	for k, n := range cIn {
		if cOut[k] != n {
			t.Errorf("%s: %d events after sanitizing, %d before", k, cOut[k], n)
		}
	}
	if len(repIn.Anomalies) == 0 {
		t.Fatal("the synthetic anomalies were not detected in the original")
	}
	anomalies := func(r *analyze.Report) []string {
		var s []string
		for _, a := range r.Anomalies {
			s = append(s, fmt.Sprintf("%s %s %d..%d", a.Kind, a.Node, a.StartMs, a.EndMs))
		}
		return s
	}
	if a, b := strings.Join(anomalies(repIn), "\n"), strings.Join(anomalies(repOut), "\n"); a != b {
		t.Errorf("anomalies differ after sanitizing\nbefore:\n%s\nafter:\n%s", a, b)
	}
	// Series keyed by name and labels, addresses blanked: a multiset.
	multiset := func(lines []string) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			m[l]++
		}
		return m
	}
	a, b := multiset(mIn), multiset(mOut)
	var differ []string
	for k, n := range a {
		if b[k] != n {
			differ = append(differ, fmt.Sprintf("%s: %d before, %d after", k, n, b[k]))
		}
	}
	for k, n := range b {
		if _, ok := a[k]; !ok {
			differ = append(differ, fmt.Sprintf("%s: only after (%d)", k, n))
		}
	}
	sort.Strings(differ)
	if len(a) < 50 {
		t.Fatalf("only %d metric series", len(a))
	}
	if len(differ) > 0 {
		t.Errorf("%d of %d metric series differ after sanitizing:\n%s", len(differ), len(a), strings.Join(differ, "\n"))
	}
}
