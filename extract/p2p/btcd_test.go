package p2p

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/proto/pb"
)

// TestBtcdConnects: a real btcd node, told to --addpeer the extractor,
// connects and completes the handshake; ping durations are positive and
// plausible for a loopback peer; mined blocks arrive as inventory
// announcements carrying exactly the mined hashes; and a restart of the
// node is survived: it reconnects and the measurements resume.
func TestBtcdConnects(t *testing.T) {
	c := &collector{}
	reg := prometheus.NewRegistry()
	x := start(t, Options{Network: "simnet", PingInterval: 100 * time.Millisecond, Registerer: reg, Node: "btcd-1"}, c)
	n := testenv.StartBtcd(t, testenv.BtcdOptions{Network: "simnet", AddPeers: []string{x.Addr().String()}})

	waitFor(t, 30*time.Second, "three ping measurements", func() bool { return c.count(t, isPing) >= 3 })
	msgs, _ := c.p2p(t)
	for _, m := range msgs {
		if d := m.GetPingDuration(); d != nil {
			// Loopback to an idle node: well under a second, never zero.
			if ns := d.GetDuration(); ns == 0 || ns > uint64(time.Second) {
				t.Errorf("implausible ping duration %v", time.Duration(ns))
			}
		}
	}
	c.mu.Lock()
	info := c.infos[0]
	c.mu.Unlock()
	if info.Implementation != event.ImplBtcd || !strings.Contains(info.Version, "btcd:0.26") || info.Network != "simnet" {
		t.Errorf("node info %+v", info)
	}
	var peers []struct {
		SubVer  string `json:"subver"`
		Inbound bool   `json:"inbound"`
	}
	n.CallInto(&peers, "getpeerinfo")
	if len(peers) != 1 || peers[0].SubVer != DefaultUserAgent || peers[0].Inbound {
		t.Fatalf("btcd's view of the extractor: %+v", peers)
	}

	hashes := n.Generate(3)
	waitFor(t, 30*time.Second, "block inventory for the three blocks", func() bool {
		return len(announcedBlocks(t, c)) >= 3
	})
	got := announcedBlocks(t, c)
	for _, h := range hashes {
		if !got[string(h[:])] {
			t.Errorf("block %s not announced", h)
		}
	}

	// The node goes away and comes back.
	pingsBefore := c.count(t, isPing)
	n.Restart()
	waitFor(t, 60*time.Second, "pings from the reconnected node", func() bool { return c.count(t, isPing) >= pingsBefore+3 })
	if v := gauge(t, reg, "peertape_p2p_connections_total", nil); v < 2 {
		t.Errorf("connections_total %v after a reconnect", v)
	}
	more := n.Generate(1)
	waitFor(t, 30*time.Second, "the new block announced after the restart", func() bool {
		return announcedBlocks(t, c)[string(more[0][:])]
	})
	_, nodes := c.p2p(t)
	for _, node := range nodes {
		if node != "btcd-1" {
			t.Fatalf("event node %q", node)
		}
	}
}

func announcedBlocks(t testing.TB, c *collector) map[string]bool {
	msgs, _ := c.p2p(t)
	out := map[string]bool{}
	for _, m := range msgs {
		for _, it := range m.GetInventoryAnnouncement().GetInventory() {
			if b := it.GetBlock(); b != nil {
				out[string(b)] = true
			}
		}
	}
	return out
}

// TestBtcdTransactionInv: a transaction entering btcd's mempool is
// announced to the extractor (relay=true in its version).
func TestBtcdTransactionInv(t *testing.T) {
	if testing.Short() {
		t.Skip("mines 101 blocks")
	}
	c := &collector{}
	x := start(t, Options{Network: "regtest", PingInterval: time.Hour}, c)
	// btcd batches transaction invs every --trickleinterval (10s by default).
	n := testenv.StartBtcd(t, testenv.BtcdOptions{AddPeers: []string{x.Addr().String()}, Args: []string{"--trickleinterval=100ms"}})
	waitFor(t, 30*time.Second, "btcd to connect", func() bool { return n.ConnectionCount() == 1 })
	txid := n.SendTx()
	waitFor(t, 30*time.Second, "the transaction's inv", func() bool {
		msgs, _ := c.p2p(t)
		for _, m := range msgs {
			for _, it := range m.GetInventoryAnnouncement().GetInventory() {
				if h := txHash(it); h != nil && bytes.Equal(h, txid[:]) {
					return true
				}
			}
		}
		return false
	})
}

func txHash(it *pb.InventoryItem) []byte {
	if h := it.GetTransaction(); h != nil {
		return h
	}
	if h := it.GetWtx(); h != nil {
		return h
	}
	return it.GetWitnessTransaction()
}
