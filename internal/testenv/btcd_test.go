package testenv

import (
	"strings"
	"testing"
	"time"
)

// TestBtcdLifecycle checks the helper itself: a node starts, mines, takes
// a transaction into its mempool, survives a restart with its chain
// (simnet; regtest would start over), and two nodes connect through
// AddPeers.
func TestBtcdLifecycle(t *testing.T) {
	n := StartBtcd(t, BtcdOptions{Network: "simnet"})
	if got := n.BlockCount(); got != 0 {
		t.Fatalf("fresh regtest node at height %d, want 0", got)
	}
	hashes := n.Generate(3)
	if len(hashes) != 3 || n.BlockCount() != 3 {
		t.Fatalf("generate 3: got %d hashes, height %d", len(hashes), n.BlockCount())
	}
	txid := n.SendTx()
	if n.MempoolSize() != 1 {
		t.Fatalf("mempool has %d transactions after SendTx, want 1", n.MempoolSize())
	}
	var mempool []string
	n.CallInto(&mempool, "getrawmempool")
	if mempool[0] != txid.String() {
		t.Fatalf("mempool holds %s, SendTx returned %s", mempool[0], txid)
	}
	height := n.BlockCount()
	if height != 101 {
		t.Fatalf("SendTx should mine to maturity (101), height %d", height)
	}

	n.Restart()
	if got := n.BlockCount(); got != height {
		t.Fatalf("height %d after restart, want %d", got, height)
	}

	m := StartBtcd(t, BtcdOptions{Network: "simnet", AddPeers: []string{n.P2PAddr}})
	WaitFor(t, 30*time.Second, "the second node to connect", func() bool { return m.ConnectionCount() == 1 })
	WaitFor(t, 30*time.Second, "the second node to sync", func() bool { return m.BlockCount() == height })
}

func TestBtcdTLSAndErrors(t *testing.T) {
	n := StartBtcd(t, BtcdOptions{TLS: true, NoListen: true})
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("URL %s with TLS", n.URL())
	}
	if n.BlockCount() != 0 {
		t.Fatal("fresh regtest node not at height 0")
	}
	_, err := n.TryCall("getmemoryinfo")
	rerr, ok := err.(*RPCError)
	if !ok || rerr.Code != -32601 {
		t.Fatalf("getmemoryinfo on btcd: %v, want method-not-found (-32601)", err)
	}
	n.Stop()
	if !n.Exited() {
		t.Fatal("node still running after Stop")
	}
	if _, err := n.TryCall("getblockcount"); err == nil {
		t.Fatal("RPC answered after Stop")
	}
}
