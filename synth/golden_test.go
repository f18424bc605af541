package synth

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The stream for a fixed seed is pinned: its digest, its counts per type
// and its first events in JSON. Any change to the model shows up here;
// regenerate with `go test ./synth -run Golden -update` and review the
// diff.
func TestGolden(t *testing.T) {
	o := Options{Node: "golden", Duration: 2 * time.Minute, Rate: 300, Seed: 1,
		Anomalies: []Anomaly{{Kind: PingBacklog, Offset: 30 * time.Second, Duration: time.Minute}}}
	evs, msgs, st := run(t, o)
	var b strings.Builder
	m := o.Meta()
	fmt.Fprintf(&b, "meta: node=%s implementation=%s version=%s network=%s source=%q synthetic=seed:%d,rate:%g,duration_ms:%d,anomalies:%v\n",
		m.GetNode(), m.GetImplementation(), m.GetImplementationVersion(), m.GetNetwork(), m.GetSource(),
		m.GetSynthetic().GetSeed(), m.GetSynthetic().GetRate(), m.GetSynthetic().GetDurationMs(), m.GetSynthetic().GetAnomalies())
	fmt.Fprintf(&b, "events: %d (anomaly %d), raw bytes %d, blocks %d, accepted %d, connections %d\n",
		st.Events, st.AnomalyEvents, st.RawBytes, st.Blocks, st.TxAccepted, st.Connections)
	fmt.Fprintf(&b, "digest: %s\n", digest(evs))
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Selector()]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%-32s %d\n", k, counts[k])
	}
	b.WriteString("first events:\n")
	for i := range 40 {
		line, err := event.AppendJSONLine(nil, evs[i], msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
	}
	path := filepath.Join("testdata", "golden-seed1.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("stream differs from %s at line %d:\n got %s\nwant %s\n(run with -update if the change is intended)", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("stream differs from %s in length (run with -update if intended)", path)
	}
}

func FuzzParseAnomaly(f *testing.F) {
	for _, s := range []string{"ping-backlog@10m:5m", "inbound-flood@90", "mutated-block@0:1.5", "x@", "@:", "orphan-flood@1h:-1s", "reject-spike@1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAnomaly(s)
		if err != nil {
			return
		}
		if a.Offset < 0 || a.Duration <= 0 {
			t.Fatalf("%q parsed to %+v", s, a)
		}
		back, err := ParseAnomaly(a.String())
		if err != nil || back != a {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, a, a.String(), back, err)
		}
	})
}
