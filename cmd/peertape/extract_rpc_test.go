package main

import (
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/internal/testenv"
)

// TestExtractRPCPublishes runs the command against a real btcd node and
// checks that its values reach NATS on the "rpc" subject, then stops it
// with SIGINT.
func TestExtractRPCPublishes(t *testing.T) {
	n := testenv.StartBtcd(t, testenv.BtcdOptions{NoListen: true})
	n.Generate(7)
	url, sub := subscribe(t)
	c := startPeertape(t, "extract", "rpc", "--rpc-host", n.RPCAddr, "--rpc-user", n.RPCUser, "--rpc-password", n.RPCPass,
		"--query-interval", "0.1", "--query-interval-less-frequent", "0.2", "--nats", url)
	sawChain := false
	for i := 0; i < 50 && !sawChain; i++ {
		subject, e := nextEvent(t, sub, 30*time.Second)
		if subject != "rpc" || e.GetRpcExtractor() == nil {
			t.Fatalf("subject %s, event %v", subject, e)
		}
		if bi := e.GetRpcExtractor().GetBlockchainInfo(); bi != nil {
			if bi.GetBlocks() != 7 || bi.GetChain() != "regtest" {
				t.Fatalf("blockchain info %v, node has 7 blocks", bi)
			}
			sawChain = true
		}
	}
	if !sawChain {
		t.Fatal("no getblockchaininfo event among 50")
	}
	code, out := c.interrupt(t)
	if code != 0 || !strings.HasPrefix(out, "published ") || !strings.Contains(out, "(0 refused by NATS)") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(c.stderrString(), "the node does not support this RPC") {
		t.Error("btcd's missing RPCs were not logged")
	}
}
