package main

import (
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/internal/testenv"
)

// TestExtractP2PPublishes: btcd connects to the command's listener
// (--addpeer); ping durations and the inventory of a mined block reach NATS
// on "p2p-extractor".
func TestExtractP2PPublishes(t *testing.T) {
	url, sub := subscribe(t)
	addr := freeAddr(t)
	c := startPeertape(t, "extract", "p2p", "--p2p-address", addr, "--p2p-network", "regtest", "--ping-interval", "0.1", "--nats", url)
	n := testenv.StartBtcd(t, testenv.BtcdOptions{AddPeers: []string{addr}})
	pings, blocks := 0, 0
	mined := false
	for deadline := time.Now().Add(60 * time.Second); pings < 2 || blocks < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d pings and %d block invs within 60s", pings, blocks)
		}
		subject, e := nextEvent(t, sub, 30*time.Second)
		if subject != "p2p-extractor" {
			t.Fatalf("subject %s", subject)
		}
		p := e.GetP2PExtractor()
		if d := p.GetPingDuration(); d != nil {
			if d.GetDuration() == 0 {
				t.Fatal("zero ping duration")
			}
			pings++
			if !mined {
				n.Generate(1)
				mined = true
			}
		}
		for _, it := range p.GetInventoryAnnouncement().GetInventory() {
			if it.GetBlock() != nil {
				blocks++
			}
		}
	}
	code, out := c.interrupt(t)
	if code != 0 || !strings.HasPrefix(out, "published ") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(c.stderrString(), "btcd:0.26") {
		t.Error("the connection's user agent is not in the log")
	}
}
