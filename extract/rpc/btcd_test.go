package rpc

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/proto/pb"
)

func btcdOptions(t testing.TB, n *testenv.Btcd) Options {
	return Options{
		Host: n.RPCAddr, User: n.RPCUser, Password: n.RPCPass, Logger: testLogger(t), Timeout: 5 * time.Second,
		QueryInterval: 100 * time.Millisecond, QueryIntervalLessFrequent: 150 * time.Millisecond,
	}
}

// latest returns the newest event of type ty.
func latest(c *collector, t testing.TB, ty string) *pb.Rpc {
	got := c.byType(t)[ty]
	if len(got) == 0 {
		return nil
	}
	return got[len(got)-1]
}

// TestBtcdRealValues polls a real btcd node with a chain, a peer and a
// transaction in its mempool, and checks the events carry those values.
func TestBtcdRealValues(t *testing.T) {
	n := testenv.StartBtcd(t, testenv.BtcdOptions{})
	testenv.StartBtcd(t, testenv.BtcdOptions{AddPeers: []string{n.P2PAddr}, NoListen: true})
	testenv.WaitFor(t, 30*time.Second, "the peer to connect", func() bool { return n.ConnectionCount() == 1 })
	n.SendTx()    // mines the 101 blocks of coinbase maturity first
	n.Generate(2) // confirms it
	txid := n.SendTx()
	height := n.BlockCount()

	reg := prometheus.NewRegistry()
	o := btcdOptions(t, n)
	o.Registerer = reg
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 30*time.Second, "peer, mempool, chain, uptime and net totals events", func() bool {
		got := c.byType(t)
		return len(got["peer_infos"]) > 0 && len(got["mempool_info"]) > 0 && len(got["blockchain_info"]) > 0 &&
			len(got["uptime"]) > 0 && len(got["net_totals"]) > 0 && len(c.nodeInfos()) > 0
	})

	bi := latest(c, t, "blockchain_info").GetBlockchainInfo()
	if int64(bi.GetBlocks()) != height || bi.GetChain() != "regtest" || len(bi.GetBestblockhash()) != 64 {
		t.Errorf("blockchain info %v, node at height %d", bi, height)
	}
	peers := latest(c, t, "peer_infos").GetPeerInfos().GetInfos()
	if len(peers) != 1 || !peers[0].GetInbound() || !strings.Contains(peers[0].GetSubversion(), "btcd") {
		t.Fatalf("peers %v, want the one inbound btcd peer", peers)
	}
	if s := peers[0].GetServices(); len(s) != 16 {
		t.Errorf("btcd services %q not normalised to 16 hex digits", s)
	}
	if p := peers[0].GetPingTime(); p < 0 || p > 5 {
		t.Errorf("ping %v s: not in seconds", p)
	}
	mp := latest(c, t, "mempool_info").GetMempoolInfo()
	if mp.GetSize() != 1 || n.MempoolSize() != 1 || mp.GetBytes() <= 0 {
		t.Errorf("mempool %v, node has %d transactions (sent %s)", mp, n.MempoolSize(), txid)
	}
	if latest(c, t, "uptime").GetUptime() > 3600 {
		t.Error("uptime implausible for a node started by this test")
	}
	if nt := latest(c, t, "net_totals").GetNetTotals(); nt.GetTotalBytesReceived() == 0 || nt.GetTotalBytesSent() == 0 || nt.GetTimeMillis() == 0 {
		t.Errorf("net totals %v with a connected peer", nt)
	}
	want := event.NodeInfo{Implementation: "btcd", Version: "0.26.2", Network: "regtest"}
	if infos := c.nodeInfos(); infos[0] != want {
		t.Errorf("node info %v, want %v", infos[0], want)
	}
	// btcd has none of these: each is marked unsupported and skipped.
	waitUntil(t, c, 10*time.Second, "btcd's missing RPCs marked unsupported", func() bool {
		for _, m := range []string{GetMemoryInfo, GetAddrManInfo, GetNetworkInfo, GetOrphanTxs, GetChainTxStats, GetRawAddrman} {
			if counter(t, reg, "rpcextractor_rpc_unsupported", map[string]string{"rpc_method": m}) != 1 {
				return false
			}
		}
		return true
	})
}

// TestBtcdRestart: the extractor survives the node going away and coming
// back (simnet keeps the chain), counting the outage as errors.
func TestBtcdRestart(t *testing.T) {
	n := testenv.StartBtcd(t, testenv.BtcdOptions{Network: "simnet"})
	n.Generate(5)
	reg := prometheus.NewRegistry()
	o := btcdOptions(t, n)
	o.Registerer, o.Timeout = reg, 2*time.Second
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 30*time.Second, "a first uptime event", func() bool { return len(c.byType(t)["uptime"]) > 0 })

	n.Stop()
	waitUntil(t, c, 30*time.Second, "errors while the node is down", func() bool {
		return counter(t, reg, "rpcextractor_rpc_fetch_errors_total", map[string]string{"rpc_method": Uptime, "reason": "connection"}) > 0
	})
	before := len(c.byType(t)["blockchain_info"])
	n.Restart()
	n.Generate(1)
	waitUntil(t, c, 30*time.Second, "chain events from the restarted node", func() bool {
		got := c.byType(t)["blockchain_info"]
		return len(got) > before && got[len(got)-1].GetBlockchainInfo().GetBlocks() == 6
	})
}

// TestBtcdTLS talks to btcd's TLS RPC server, trusting its certificate.
func TestBtcdTLS(t *testing.T) {
	n := testenv.StartBtcd(t, testenv.BtcdOptions{TLS: true, NoListen: true})
	o := btcdOptions(t, n)
	o.TLSCertFile = n.CertFile
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	runExtractor(t, x, c)
	waitUntil(t, c, 30*time.Second, "an uptime event over TLS", func() bool { return len(c.byType(t)["uptime"]) > 0 })

	// Without the certificate the TLS handshake fails and nothing arrives.
	o.TLSCertFile, o.TLS = "", true
	reg := prometheus.NewRegistry()
	o.Registerer, o.Timeout = reg, time.Second
	x2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c2 := newCollector()
	runExtractor(t, x2, c2)
	waitUntil(t, c2, 30*time.Second, "a failed fetch with an untrusted certificate", func() bool {
		return counter(t, reg, "rpcextractor_rpc_fetch_duration_seconds", map[string]string{"rpc_method": Uptime}) > 0
	})
	if len(c2.byType(t)) != 0 {
		t.Fatal("events through an untrusted TLS certificate")
	}
}
