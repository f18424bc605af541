package rpc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// fakeCore is a JSON-RPC server that answers like bitcoind does over
// HTTP: JSON-RPC 1.0 envelopes, HTTP 404 with code -32601 for unknown
// methods, HTTP 401 with an empty body for bad credentials. Results come
// from fixtures/core (Core-shaped output, see its README).
type fakeCore struct {
	srv        *httptest.Server
	user, pass string

	mu       sync.Mutex
	results  map[string]json.RawMessage
	hang     map[string]bool // hold the request until the client gives up
	calls    map[string]int
	inflight map[string]int
	maxIn    map[string]int
}

func newFakeCore(t *testing.T, results map[string]json.RawMessage) *fakeCore {
	f := &fakeCore{user: "alice", pass: "s3cret", results: results, hang: map[string]bool{},
		calls: map[string]int{}, inflight: map[string]int{}, maxIn: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCore) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeCore) serve(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || u != f.user || p != f.pass {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`+"\n")
		return
	}
	f.mu.Lock()
	f.calls[req.Method]++
	f.inflight[req.Method]++
	f.maxIn[req.Method] = max(f.maxIn[req.Method], f.inflight[req.Method])
	res, found := f.results[req.Method]
	hang := f.hang[req.Method]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[req.Method]--
		f.mu.Unlock()
	}()
	if hang {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !found {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":`+string(req.ID)+"}\n")
		return
	}
	io.WriteString(w, `{"result":`+string(res)+`,"error":null,"id":`+string(req.ID)+"}\n")
}

func (f *fakeCore) set(method string, res json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if res == nil {
		delete(f.results, method)
	} else {
		f.results[method] = res
	}
}

func (f *fakeCore) setHang(method string, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang[method] = hang
}

func (f *fakeCore) stats(method string) (calls, maxInflight int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method], f.maxIn[method]
}

// coreFixtures loads fixtures/core/rpc/<method>.json for every method.
func coreFixtures(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for _, m := range methods {
		b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "core", "rpc", m.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("fixture %s is not JSON", m.name)
		}
		out[m.name] = b
	}
	return out
}

// collector records events (by rpc arm) and node info.
type collector struct {
	mu     sync.Mutex
	events []event.Event
	infos  []event.NodeInfo
	got    chan struct{}
	err    error // returned by Consume when set
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1<<16)} }

func (c *collector) Consume(ev event.Event) error {
	c.mu.Lock()
	c.events = append(c.events, ev)
	err := c.err
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	return err
}

func (c *collector) NodeInfo(info event.NodeInfo) {
	c.mu.Lock()
	c.infos = append(c.infos, info)
	c.mu.Unlock()
}

// byType returns the decoded rpc messages received so far per event type.
func (c *collector) byType(t testing.TB) map[string][]*pb.Rpc {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]*pb.Rpc{}
	for _, ev := range c.events {
		if ev.Kind != event.RPC {
			t.Fatalf("event of kind %v from the rpc extractor", ev.Kind)
		}
		msg, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		out[ev.Type] = append(out[ev.Type], msg.GetRpcExtractor())
	}
	return out
}

func (c *collector) nodeInfos() []event.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.NodeInfo(nil), c.infos...)
}

// waitUntil polls cond (after each event and every 20ms) until it holds.
func waitUntil(t testing.TB, c *collector, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-c.got:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// runExtractor runs x into c until the test ends, returning a function
// that stops it and returns Run's error.
func runExtractor(t testing.TB, x *Extractor, sink event.Sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx, sink) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if labelValue(m, k) != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func jsonFixture(method string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", "fixtures", "core", "rpc", method+".json"))
}
