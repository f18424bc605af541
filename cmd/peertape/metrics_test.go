package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/analyze"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/internal/testevents"
)

// metricsProc starts `peertape metrics` and waits until it subscribed.
func metricsProc(t *testing.T, args ...string) *recProc {
	t.Helper()
	p := startProc(t, "exporting", append([]string{"metrics", "--addr", "127.0.0.1:0"}, args...)...)
	if p.metrics == "" {
		t.Fatalf("no metrics address logged:\n%s", p.Stderr())
	}
	return p
}

// scrapeRaw returns the body of /metrics with the given Accept header.
func scrapeRaw(t *testing.T, addr, accept string) (string, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Content-Type"), b
}

// offline runs the events through an engine in this process, as a replay
// would, and returns its text exposition.
func offline(t *testing.T, opts analyze.Options, evs []event.Event) []byte {
	t.Helper()
	e, err := analyze.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		e.Consume(ev)
	}
	var buf bytes.Buffer
	if err := e.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The live exporter and an in-process engine fed the same events expose
// the same bytes (with --no-process-metrics, nothing else is served).
func TestMetricsLiveEqualsOffline(t *testing.T) {
	evs := mixedWithUnknown(t, 3000)
	p := metricsProc(t, "--embedded-nats", "--listen", "127.0.0.1:0", "--no-process-metrics")
	_, pub := publisher(t, p.natsURL)
	publishAll(t, pub, evs)
	pollUntil(t, "all events consumed", func() bool { return p.metric("peertape_events_total") == float64(len(evs)) })

	ct, live := scrapeRaw(t, p.metrics, "")
	if ct != analyze.ContentTypeText {
		t.Errorf("content type %q", ct)
	}
	want := offline(t, analyze.Options{}, evs)
	if !bytes.Equal(live, want) {
		t.Errorf("live exposition (%d bytes) differs from the offline one (%d bytes)", len(live), len(want))
		la, wa := strings.Split(string(live), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(la) && i < len(wa); i++ {
			if la[i] != wa[i] {
				t.Logf("line %d:\n live    %s\n offline %s", i+1, la[i], wa[i])
				break
			}
		}
	}
	for _, bad := range []string{"\ngo_", "\nprocess_", "peertape_nats_"} {
		if strings.Contains(string(live), bad) {
			t.Errorf("--no-process-metrics still serves %q", bad)
		}
	}
	ct, om := scrapeRaw(t, p.metrics, "application/openmetrics-text;version=1.0.0")
	if ct != analyze.ContentTypeOpenMetrics || !bytes.HasSuffix(om, []byte("# EOF\n")) {
		t.Errorf("OpenMetrics: content type %q", ct)
	}
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT", code)
	}
}

// With an external NATS server and the default process metrics, the
// engine's families are the same and process, Go and NATS metrics are
// added; IP lists from files count.
func TestMetricsExternalNATSWithLists(t *testing.T) {
	srv := testenv.NATS(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tor-exit-nodes.txt"), []byte("# test\n192.0.2.1\n"), 0o644)
	p := metricsProc(t, "--nats", srv.ClientURL(), "--ip-list-dir", dir, "--node", "n1")
	evs := testevents.Mixed(700, 9, 1_700_000_000_000)
	_, pub := publisher(t, srv.ClientURL())
	publishAll(t, pub, evs)
	pollUntil(t, "all events consumed", func() bool { return p.metric("peertape_events_total") == float64(len(evs)) })
	mfs, body := p.scrape()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "peertape_nats_messages_received_total", "peerobserver_conn_inbound_tor_exit"} {
		if mfs[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	// testevents' inbound connections all come from 192.0.2.1.
	if got := p.metric("peerobserver_conn_inbound_tor_exit"); got == 0 || got != p.metric("peerobserver_conn_inbound") {
		t.Errorf("tor exit inbound = %v, inbound = %v", got, p.metric("peerobserver_conn_inbound"))
	}
	// The engine's part equals the offline exposition with the same list.
	lists, err := (&analyze.IPLists{}).LoadIPListDir(dir)
	if err != nil || len(lists) != 1 {
		t.Fatal(lists, err)
	}
	var o analyze.Options
	o.Lists.LoadIPListDir(dir)
	want := offline(t, o, withNode(evs, "n1"))
	if got := dropFamilies(body, "go_", "process_", "peertape_nats_"); !bytes.Equal(got, want) {
		t.Errorf("engine families differ from the offline exposition")
	}
	p.signal(syscall.SIGTERM, 10*time.Second)
}

func withNode(evs []event.Event, node string) []event.Event {
	out := make([]event.Event, len(evs))
	for i, ev := range evs {
		ev.Node = node
		out[i] = ev
	}
	return out
}

// dropFamilies removes the text-format families whose names start with
// one of prefixes.
func dropFamilies(text []byte, prefixes ...string) []byte {
	var out bytes.Buffer
	skip := false
	for _, line := range strings.SplitAfter(string(text), "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			name := strings.Fields(line)[2]
			skip = false
			for _, p := range prefixes {
				if strings.HasPrefix(name, p) {
					skip = true
				}
			}
		}
		if !skip {
			out.WriteString(line)
		}
	}
	return out.Bytes()
}

func TestMetricsUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("1.2.3.4\nnot-an-ip\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"metrics"}, "no source"},
		{[]string{"metrics", "--nats", "nats://127.0.0.1:1", "--embedded-nats"}, "exclude each other"},
		{[]string{"metrics", "--embedded-nats", "--gmax-banlist", bad}, "--gmax-banlist"},
		{[]string{"metrics", "--embedded-nats", "--tor-exit-list", filepath.Join(dir, "missing.txt")}, "--tor-exit-list"},
		{[]string{"metrics", "--embedded-nats", "--ip-list-dir", filepath.Join(dir, "nodir")}, "--ip-list-dir"},
		{[]string{"metrics", "--embedded-nats", "--max-peers", "0"}, "--max-peers"},
		{[]string{"metrics", "--nats", "x", "extra-arg"}, "unknown command"},
	} {
		_, stderr, code := peertape(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, stderr, tc.want)
		}
	}
	if _, stderr, code := peertape(t, "metrics", "--embedded-nats", "--gmax-banlist", bad); !strings.Contains(stderr, "line 2") {
		t.Errorf("bad list: exit %d, stderr %q does not name the line", code, stderr)
	}
}

func TestMetricsHelp(t *testing.T) {
	out, _, code := peertape(t, "metrics", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--no-process-metrics") || !strings.Contains(out, "--ip-list-dir") {
		t.Errorf("help: exit %d:\n%s", code, out)
	}
}
