package rpc

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
)

// TestUnsupportedSkipped: RPCs the node lacks are asked once, marked in a
// gauge and skipped, while the others keep being polled; when the node
// learns the RPC (after an upgrade) the recheck finds it.
func TestUnsupportedSkipped(t *testing.T) {
	fx := coreFixtures(t)
	orphans, rawAddrman := fx[GetOrphanTxs], fx[GetRawAddrman]
	delete(fx, GetOrphanTxs)
	delete(fx, GetRawAddrman)
	f := newFakeCore(t, fx)
	reg := prometheus.NewRegistry()
	o := fastOptions(t, f)
	o.Registerer, o.UnsupportedRecheck = reg, time.Hour
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 10*time.Second, "ten getpeerinfo polls", func() bool { return len(c.byType(t)["peer_infos"]) >= 10 })
	for _, m := range []string{GetOrphanTxs, GetRawAddrman} {
		if calls, _ := f.stats(m); calls != 1 {
			t.Errorf("%s asked %d times, want once (then skipped)", m, calls)
		}
		if g := counter(t, reg, "rpcextractor_rpc_unsupported", map[string]string{"rpc_method": m}); g != 1 {
			t.Errorf("unsupported{%s} = %v, want 1", m, g)
		}
		if e := counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": m}); e != 0 {
			t.Errorf("a missing RPC is not a fetch error, got %v", e)
		}
	}
	got := c.byType(t)
	if len(got["orphan_txs"]) != 0 || len(got["addrman"]) != 0 {
		t.Fatal("events for RPCs the node does not have")
	}

	// Recheck: the "upgraded" node answers.
	f.set(GetOrphanTxs, orphans)
	f.set(GetRawAddrman, rawAddrman)
	o2 := fastOptions(t, f)
	o2.UnsupportedRecheck = 200 * time.Millisecond
	f.set(GetOrphanTxs, nil)
	x2, err := New(o2)
	if err != nil {
		t.Fatal(err)
	}
	c2 := newCollector()
	runExtractor(t, x2, c2)
	waitUntil(t, c2, 10*time.Second, "getorphantxs marked unsupported", func() bool { n, _ := f.stats(GetOrphanTxs); return n >= 2 })
	f.set(GetOrphanTxs, orphans)
	waitUntil(t, c2, 10*time.Second, "an orphan event after the recheck", func() bool { return len(c2.byType(t)["orphan_txs"]) > 0 })
}

// TestSlowRPCDoesNotBlockOthers: a hanging getrawaddrman times out on its
// own schedule, backs off, never has more than one request outstanding,
// and the other RPCs keep their pace meanwhile.
func TestSlowRPCDoesNotBlockOthers(t *testing.T) {
	f := newFakeCore(t, coreFixtures(t))
	f.setHang(GetRawAddrman, true)
	f.setHang(GetMemoryInfo, true)
	reg := prometheus.NewRegistry()
	o := fastOptions(t, f)
	o.Registerer, o.Timeout = reg, 150*time.Millisecond
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 10*time.Second, "getrawaddrman to time out three times", func() bool {
		return counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": GetRawAddrman, "reason": "timeout"}) >= 3
	})
	got := c.byType(t)
	if len(got["peer_infos"]) < 3 || len(got["uptime"]) < 3 {
		t.Fatalf("other RPCs starved: %d getpeerinfo, %d uptime events", len(got["peer_infos"]), len(got["uptime"]))
	}
	if len(got["addrman"]) != 0 || len(got["memory_info"]) != 0 {
		t.Fatal("events from hanging RPCs")
	}
	for _, m := range []string{GetRawAddrman, GetMemoryInfo} {
		if _, maxIn := f.stats(m); maxIn != 1 {
			t.Errorf("%s had %d concurrent requests at the node, want at most 1 (no queueing)", m, maxIn)
		}
	}
	// Abandoned requests do not accumulate: goroutines stay flat while
	// timeouts keep coming (rpcclient's handlers end with Shutdown).
	timeouts := func() float64 {
		return counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": GetRawAddrman, "reason": "timeout"})
	}
	base, n0 := runtime.NumGoroutine(), timeouts()
	waitUntil(t, c, 20*time.Second, "ten more timeouts", func() bool { return timeouts() >= n0+10 })
	if g := runtime.NumGoroutine(); g > base+15 {
		t.Errorf("goroutines grew from %d to %d over ten timeouts", base, g)
	}
	if counter(t, reg, "rpcextractor_rpc_backoff_skipped_total", map[string]string{"rpc_method": GetRawAddrman}) == 0 {
		t.Error("no polls skipped after timeouts: the abandoned requests would pile up in the node")
	}
	// The node recovers: events flow again.
	f.setHang(GetRawAddrman, false)
	waitUntil(t, c, 10*time.Second, "getrawaddrman after the node recovered", func() bool { return len(c.byType(t)["addrman"]) > 0 })
}

// TestDeadNode: nothing listens; every poll fails fast as a connection
// error, Run keeps going and stops promptly when cancelled.
func TestDeadNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	x, err := New(Options{Host: addr, User: "u", Password: "p", Logger: testLogger(t), QueryInterval: 50 * time.Millisecond,
		QueryIntervalLessFrequent: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	stop := runExtractor(t, x, c)
	waitUntil(t, c, 10*time.Second, "connection errors for getpeerinfo", func() bool {
		return counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": GetPeerInfo, "reason": "connection"}) >= 2
	})
	start := time.Now()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	if len(c.byType(t)) != 0 {
		t.Fatal("events from a dead node")
	}
}

func TestAuth(t *testing.T) {
	f := newFakeCore(t, coreFixtures(t))
	reg := prometheus.NewRegistry()
	o := fastOptions(t, f)
	o.Password, o.Registerer = "wrong", reg
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 10*time.Second, "an auth error", func() bool {
		return counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": Uptime, "reason": "auth"}) >= 1
	})

	// Cookie auth, as bitcoind writes .cookie.
	cookie := filepath.Join(t.TempDir(), ".cookie")
	if err := os.WriteFile(cookie, []byte("__cookie__:c00k1e"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newFakeCore(t, coreFixtures(t))
	g.user, g.pass = "__cookie__", "c00k1e"
	x2, err := New(Options{Host: g.host(), CookieFile: cookie, QueryInterval: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c2 := newCollector()
	runExtractor(t, x2, c2)
	waitUntil(t, c2, 10*time.Second, "an uptime event with cookie auth", func() bool { return len(c2.byType(t)["uptime"]) > 0 })
}

func TestModelErrorsCounted(t *testing.T) {
	fx := coreFixtures(t)
	fx[GetMemoryInfo] = []byte(`{"malloc":"<xml/>"}`)
	fx[GetPeerInfo] = []byte(`"not a list"`)
	f := newFakeCore(t, fx)
	reg := prometheus.NewRegistry()
	o := fastOptions(t, f)
	o.Registerer = reg
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 10*time.Second, "model errors for both", func() bool {
		return counter(t, reg, "rpcextractor_rpc_model_errors_total", map[string]string{"rpc_method": GetMemoryInfo}) >= 2 &&
			counter(t, reg, "rpcextractor_rpc_model_errors_total", map[string]string{"rpc_method": GetPeerInfo}) >= 2
	})
	got := c.byType(t)
	if len(got["memory_info"]) != 0 || len(got["peer_infos"]) != 0 {
		t.Fatal("events published for results that do not fit the model")
	}
	if len(got["uptime"]) == 0 {
		t.Fatal("model errors stopped the other RPCs")
	}
}

func TestSinkErrorStopsRun(t *testing.T) {
	f := newFakeCore(t, coreFixtures(t))
	for _, tc := range []struct {
		sinkErr error
		want    error
	}{
		{errors.New("disk full"), nil},
		{event.ErrStop, nil},
	} {
		x, err := New(fastOptions(t, f))
		if err != nil {
			t.Fatal(err)
		}
		c := newCollector()
		c.err = tc.sinkErr
		done := make(chan error, 1)
		go func() { done <- x.Run(context.Background(), c) }()
		select {
		case err := <-done:
			if errors.Is(tc.sinkErr, event.ErrStop) {
				if err != nil {
					t.Errorf("ErrStop: Run returned %v, want nil", err)
				}
			} else if !errors.Is(err, tc.sinkErr) {
				t.Errorf("Run returned %v, want the sink's %v", err, tc.sinkErr)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop after the sink failed")
		}
	}
}
