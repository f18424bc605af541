package sanitize

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/extract/rpc"
	"github.com/peertape/peertape/internal/testenv"
)

// rpcFixtureEvents serves results (method -> JSON result) as bitcoind's
// JSON-RPC would (testenv.CoreRPC) and returns the events the real RPC
// extractor makes of one poll of every method.
func rpcFixtureEvents(t *testing.T, results map[string]json.RawMessage) []event.Event {
	t.Helper()
	host := testenv.CoreRPC(t, results, "u", "p")
	x, err := rpc.New(rpc.Options{Host: host, User: "u", Password: "p",
		QueryInterval: time.Hour, QueryIntervalLessFrequent: time.Hour, Node: "honeypot"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []event.Event
	want := len(rpc.RPCs())
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- x.Run(ctx, event.SinkFunc(func(ev event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			evs = append(evs, ev)
			if len(evs) == want {
				close(all)
			}
			return nil
		}))
	}()
	select {
	case <-all:
	case err := <-done:
		t.Fatalf("the RPC extractor stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the RPC extractor did not make an event of each of %d fixtures in 30s", want)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return append([]event.Event(nil), evs...)
}

// TestRPCFixturesNoLeaks: every fixture of fixtures/core/rpc and
// rpc-variants (Core's own RPC output: getpeerinfo, getnetworkinfo,
// getrawaddrman ...) goes through the real RPC extractor and the
// sanitizer, and no address of the original event survives in the
// sanitized one.
func TestRPCFixturesNoLeaks(t *testing.T) {
	base := filepath.Join("..", "fixtures", "core", "rpc")
	results := testenv.CoreRPCFixtures(t, base)
	rounds := []map[string]json.RawMessage{results}
	// Each variant replaces its method's fixture in a round of its own.
	for name, b := range testenv.CoreRPCFixtures(t, base+"-variants") {
		method, _, _ := strings.Cut(name, "-")
		r := map[string]json.RawMessage{}
		for k, v := range results {
			r[k] = v
		}
		r[method] = b
		rounds = append(rounds, r)
	}
	s := newSanitizer(t, Options{})
	var addrs int
	for i, r := range rounds {
		for _, in := range rpcFixtureEvents(t, r) {
			set := NewAddressSet()
			if err := set.Add(in); err != nil {
				t.Fatal(err)
			}
			addrs += set.Len()
			// The scan is live: it finds the addresses in the original.
			if leaks, _ := set.Check(0, in); set.Len() > 0 && len(leaks) == 0 {
				t.Errorf("round %d %s: the check finds none of %d addresses in the unsanitized event", i, in.Selector(), set.Len())
			}
			out, keep, err := s.Event(in)
			if err != nil || !keep {
				t.Fatalf("round %d %s: keep=%v %v", i, in.Selector(), keep, err)
			}
			if leaks, _ := set.Check(0, out); len(leaks) > 0 {
				t.Errorf("round %d %s: %d leaks: %v", i, in.Selector(), len(leaks), leaks[:min(len(leaks), 5)])
			}
		}
	}
	// getpeerinfo, getnetworkinfo and getrawaddrman hold addresses: a
	// scan that found none would prove nothing.
	if addrs < 10 {
		t.Errorf("only %d addresses in the RPC fixtures' events", addrs)
	}
	t.Logf("%d rounds, %d addresses checked", len(rounds), addrs)
}
