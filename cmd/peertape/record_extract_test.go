package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/proto/pb"
)

// metricWith sums the samples of a metric family whose labels include
// every pair in labels.
func (p *recProc) metricWith(name string, labels map[string]string) float64 {
	p.t.Helper()
	mfs, _ := p.scrape()
	var sum float64
	mf := mfs[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.Metric {
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

// recordedKind is the recorder's count of events of one kind.
func (p *recProc) recordedKind(kind string) float64 {
	return p.metricWith("peertape_record_events_total", map[string]string{"kind": kind})
}

// infoJSON runs `peertape info --json` on dir and returns its summaries.
func infoJSON(t *testing.T, dir string) []format.Summary {
	t.Helper()
	out, stderr, code := peertape(t, "info", "--json", dir)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, stderr)
	}
	var sums []format.Summary
	if err := json.Unmarshal([]byte(out), &sums); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	if len(sums) == 0 {
		t.Fatal("info: no segments")
	}
	return sums
}

// TestRecordAllInOneBtcd records a real btcd node with the RPC and P2P
// extractors in-process (no NATS): btcd connects to the P2P extractor
// through its addnode RPC (the add-peer option), blocks and a transaction
// are made, and after SIGTERM the segments hold rpc events with the node's
// real values and p2p-extractor events for its pings and block
// announcements, all under one node name, with btcd and its version in the
// metadata and in `peertape info`.
func TestRecordAllInOneBtcd(t *testing.T) {
	n := testenv.StartBtcd(t, testenv.BtcdOptions{})
	dir := filepath.Join(t.TempDir(), "tape")
	p2pAddr := freeAddr(t)
	// Bare numbers are seconds, as in peer-observer.
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "alice",
		"--rpc-host", n.RPCAddr, "--rpc-user", n.RPCUser, "--rpc-password", n.RPCPass,
		"--query-interval", "0.2", "--query-interval-less-frequent", "0.4",
		"--p2p-address", p2pAddr, "--p2p-network", "regtest", "--ping-interval", "0.1")
	if src, _ := p.findLog("recording")["source"].(string); !strings.Contains(src, "rpc "+n.RPCAddr) || !strings.Contains(src, "p2p "+p2pAddr+" regtest") {
		t.Fatalf("recording source %q names neither extractor", src)
	}
	n.Call("addnode", p2pAddr, "add")
	testenv.WaitFor(t, 30*time.Second, "btcd connected to the P2P extractor", func() bool { return n.ConnectionCount() == 1 })

	blocks := n.Generate(3)
	txid := n.SendTx() // mines to coinbase maturity first
	tip := n.BlockCount()
	p2pEvents := func(typ string) float64 {
		return p.metricWith("peertape_p2p_events_total", map[string]string{"type": typ})
	}
	// Enough RPC events after the last change that every poller ran at
	// least once more (each interval is under half a second).
	rpcBase := p.recordedKind("rpc")
	pollUntil(t, "pings, block inventory and fresh RPC results", func() bool {
		return p2pEvents("ping_duration") >= 3 && p2pEvents("inventory_announcement") >= 1 && p.recordedKind("rpc") >= rpcBase+40
	})
	if code := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("record exit %d after SIGTERM:\n%s", code, p.Stderr())
	}
	finished(t, dir)

	var lastChain *pb.BlockchainInfo
	var lastMempool *pb.MempoolInfo
	var peers *pb.PeerInfos
	pings, rpcs := 0, 0
	announced := map[string]bool{}
	for _, ev := range readAll(t, dir) {
		if ev.Node != "alice" {
			t.Fatalf("event of node %q, want alice", ev.Node)
		}
		e, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case event.RPC:
			rpcs++
			r := e.GetRpcExtractor()
			if bi := r.GetBlockchainInfo(); bi != nil {
				lastChain = bi
			}
			if mi := r.GetMempoolInfo(); mi != nil {
				lastMempool = mi
			}
			if pi := r.GetPeerInfos(); pi != nil {
				peers = pi
			}
		case event.P2P:
			x := e.GetP2PExtractor()
			if d := x.GetPingDuration(); d != nil {
				// Loopback pings of an idle node: positive, under 10 s.
				if d.GetDuration() == 0 || d.GetDuration() > uint64(10*time.Second) {
					t.Errorf("implausible ping duration %d ns", d.GetDuration())
				}
				pings++
			}
			for _, it := range x.GetInventoryAnnouncement().GetInventory() {
				if b := it.GetBlock(); b != nil {
					announced[string(b)] = true
				}
			}
		default:
			t.Fatalf("unexpected %s event", ev.Kind)
		}
	}
	if rpcs < 40 || pings < 3 {
		t.Fatalf("%d rpc events and %d pings recorded", rpcs, pings)
	}
	if lastChain == nil || int64(lastChain.GetBlocks()) != tip || lastChain.GetChain() != "regtest" {
		t.Errorf("last getblockchaininfo %v, node has %d blocks on regtest", lastChain, tip)
	}
	if lastMempool == nil || lastMempool.GetSize() != 1 {
		t.Errorf("last getmempoolinfo %v, node has transaction %s in its mempool", lastMempool, txid)
	}
	// The node's peer, seen over RPC, is the P2P extractor itself.
	if infos := peers.GetInfos(); len(infos) != 1 || !strings.Contains(infos[0].GetSubversion(), "p2p-extractor") {
		t.Errorf("getpeerinfo %v, want the P2P extractor as the one peer", infos)
	}
	if !announced[string(blocks[0][:])] {
		t.Errorf("block %s was mined while connected but never announced", blocks[0])
	}

	for _, s := range infoJSON(t, dir) {
		if s.Implementation != event.ImplBtcd || !strings.Contains(s.ImplementationVersion, "btcd:0.26") || s.Network != "regtest" {
			t.Errorf("%s: implementation %q version %q network %q, want btcd's user agent on regtest",
				s.Path, s.Implementation, s.ImplementationVersion, s.Network)
		}
		if s.Kinds["rpc"] == 0 || s.Kinds["p2p"] == 0 {
			t.Errorf("%s: kinds %v, want rpc and p2p in the same segment", s.Path, s.Kinds)
		}
	}
	out, _, code := peertape(t, "info", dir)
	if code != 0 || !regexp.MustCompile(`node: +alice \(btcd, /btcwire:[0-9.]+/btcd:0\.26[0-9.]*/, regtest\)`).MatchString(out) {
		t.Errorf("info (exit %d) does not show btcd:\n%s", code, out)
	}
}

// coreRPC serves Bitcoin Core's documented RPC results from
// fixtures/core/rpc (see fixtures/core/README.md for their source), with
// getnetworkinfo's subversion replaced, to an RPC client authenticating
// as u:p. Other methods get Core's "Method not found".
func coreRPC(t *testing.T, subversion string) string {
	t.Helper()
	results := testenv.CoreRPCFixtures(t, filepath.Join("..", "..", "fixtures", "core", "rpc"))
	var m map[string]any
	if err := json.Unmarshal(results["getnetworkinfo"], &m); err != nil {
		t.Fatalf("getnetworkinfo fixture: %v", err)
	}
	m["subversion"] = subversion
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	results["getnetworkinfo"] = b
	return testenv.CoreRPC(t, results, "u", "p")
}

// TestRecordNodeInfoCore: the implementation and version Core and Knots
// report in getnetworkinfo's subversion reach the segment metadata and
// `peertape info`, with the network from getblockchaininfo ("main").
func TestRecordNodeInfoCore(t *testing.T) {
	for _, tc := range []struct {
		subversion, impl string
	}{
		{"/Satoshi:27.0.0/", "Bitcoin Core"},
		{"/Satoshi:27.1.0/Knots:20240801/", "Bitcoin Knots"},
	} {
		t.Run(tc.impl, func(t *testing.T) {
			host := coreRPC(t, tc.subversion)
			dir := filepath.Join(t.TempDir(), "tape")
			p := startProc(t, "recording", "record", "--dir", dir, "--node", "core-1",
				"--rpc-host", host, "--rpc-user", "u", "--rpc-password", "p", "--query-interval", "0.2")
			p.waitLog("node identified", 20*time.Second)
			pollUntil(t, "rpc events", func() bool { return p.recordedKind("rpc") >= 5 })
			if code := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, s := range infoJSON(t, dir) {
				if s.Implementation != tc.impl || s.ImplementationVersion != tc.subversion || s.Network != "mainnet" {
					t.Errorf("%s: %q %q %q, want %q %q mainnet", s.Path, s.Implementation, s.ImplementationVersion, s.Network, tc.impl, tc.subversion)
				}
			}
			out, _, _ := peertape(t, "info", dir)
			if want := "core-1 (" + tc.impl + ", " + tc.subversion + ", mainnet)"; !strings.Contains(out, want) {
				t.Errorf("info lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestRecordExtractUsage: extractor tuning flags without the flag that
// enables the extractor are refused (exit 2) before anything starts, and
// the extractors' own checks apply to record as to the extract commands.
func TestRecordExtractUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--p2p-network", "regtest"}, "--p2p-network: the P2P extractor runs only with --p2p-address"},
		{[]string{"--disable-getpeerinfo", "--nats", "nats://127.0.0.1:1"}, "the RPC extractor runs only with"},
		{[]string{"--from-start"}, "the log extractor runs only with --log-file"},
		{[]string{"--rpc-host", "127.0.0.1:1"}, "give --rpc-user and --rpc-password, or --rpc-cookie-file"},
		{[]string{"--p2p-address", "127.0.0.1:0", "--p2p-network", "mainnet3"}, `--p2p-network "mainnet3": want one of`},
		{[]string{"--p2p-address", "127.0.0.1:0", "--ping-interval", "0"}, "--ping-interval must be positive"},
		{[]string{"--log-file", "x.log", "--log-stdin"}, "give exactly one of --log-file, --log-fifo and --log-stdin"},
		{[]string{"--log-file", "x.log", "--log-event-time", "soon"}, `--log-event-time "soon"`},
		{[]string{"--query-interval", "1"}, "--query-interval: the RPC extractor runs only with"},
	} {
		args := append([]string{"record", "--dir", dir, "--node", "x", "--metrics-addr", ""}, tc.args...)
		_, stderr, code := peertape(t, args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 with %q", tc.args, code, stderr, tc.want)
		}
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("usage errors left %d files in --dir", len(files))
	}
}

// TestRecordAllInOneLog records a Core-shaped debug.log (fixtures/core/log)
// read from its start by the in-process log extractor, together with a P2P
// listener no node connects to, and finds every line in the segment.
func TestRecordAllInOneLog(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "core", "log", "debug.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(src), "\n")
	logFile := filepath.Join(t.TempDir(), "debug.log")
	if err := os.WriteFile(logFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tape")
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "bob",
		"--log-file", logFile, "--from-start", "--log-poll-interval", "0.05",
		"--p2p-address", freeAddr(t))
	pollUntil(t, "every log line recorded", func() bool { return p.recordedKind("log") >= float64(lines) })
	if code := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	evs := readAll(t, dir)
	if len(evs) != lines {
		t.Fatalf("%d events recorded, the log has %d lines", len(evs), lines)
	}
	for _, ev := range evs {
		if ev.Kind != event.Log || ev.Node != "bob" {
			t.Fatalf("event %s of node %q", ev.Kind, ev.Node)
		}
	}
}

// TestNodeInfoMerger: a shorter report of the version a user agent
// already carries keeps the user agent; every real change passes.
func TestNodeInfoMerger(t *testing.T) {
	btcdUA := event.NodeInfo{Implementation: "btcd", Version: "/btcwire:0.5.0/btcd:0.26.2/", Network: "regtest"}
	for _, tc := range []struct {
		name    string
		in      []event.NodeInfo
		want    event.NodeInfo
		changes int
	}{
		{"ua then rpc version", []event.NodeInfo{btcdUA, {Implementation: "btcd", Version: "0.26.2", Network: "regtest"}}, btcdUA, 1},
		{"rpc version then ua", []event.NodeInfo{{Implementation: "btcd", Version: "0.26.2", Network: "regtest"}, btcdUA}, btcdUA, 2},
		{"upgrade", []event.NodeInfo{btcdUA, {Implementation: "btcd", Version: "0.27.0", Network: "regtest"}},
			event.NodeInfo{Implementation: "btcd", Version: "0.27.0", Network: "regtest"}, 2},
		{"core upgrade", []event.NodeInfo{{Implementation: "Bitcoin Core", Version: "/Satoshi:27.0.0/"}, {Implementation: "Bitcoin Core", Version: "/Satoshi:28.0.0/"}},
			event.NodeInfo{Implementation: "Bitcoin Core", Version: "/Satoshi:28.0.0/"}, 2},
		{"same twice", []event.NodeInfo{btcdUA, btcdUA}, btcdUA, 1},
		{"other implementation", []event.NodeInfo{btcdUA, {Implementation: "Bitcoin Core", Version: "0.26.2"}},
			event.NodeInfo{Implementation: "Bitcoin Core", Version: "0.26.2", Network: "regtest"}, 2},
		{"network only", []event.NodeInfo{btcdUA, {Network: "simnet"}},
			event.NodeInfo{Implementation: "btcd", Version: btcdUA.Version, Network: "simnet"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &nodeInfoMerger{}
			changes := 0
			var got event.NodeInfo
			for _, in := range tc.in {
				out, changed := m.merge(in)
				if changed {
					changes++
				}
				got = out
			}
			if got != tc.want || changes != tc.changes {
				t.Errorf("got %+v after %d changes, want %+v after %d", got, changes, tc.want, tc.changes)
			}
		})
	}
}

// TestRecordNodeInfoFromNATS: in the peer-observer set-up (an extractor
// publishing to the recorder's embedded NATS) the events carry no node
// facts; the recorder takes them from the getnetworkinfo and
// getblockchaininfo results it records.
func TestRecordNodeInfoFromNATS(t *testing.T) {
	const sub = "/Satoshi:27.1.0/Knots:20240801/"
	host := coreRPC(t, sub)
	dir := filepath.Join(t.TempDir(), "tape")
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "knots-1", "--embedded-nats", "--listen", "127.0.0.1:0")
	x := startPeertape(t, "extract", "rpc", "--rpc-host", host, "--rpc-user", "u", "--rpc-password", "p",
		"--query-interval", "0.2", "--query-interval-less-frequent", "0.2", "--nats", p.natsURL)
	pollUntil(t, "getnetworkinfo and getblockchaininfo recorded", func() bool { return p.recordedKind("rpc") >= 25 })
	x.interrupt(t)
	if code := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range infoJSON(t, dir) {
		if s.Implementation != "Bitcoin Knots" || s.ImplementationVersion != sub || s.Network != "mainnet" {
			t.Errorf("%s: %q %q %q, want Bitcoin Knots %s mainnet", s.Path, s.Implementation, s.ImplementationVersion, s.Network, sub)
		}
	}
}

// TestRecordAllInOneNodeRestart: the all-in-one recorder survives its node
// restarting (simnet keeps the chain): the RPC extractor polls again, btcd
// reconnects to the P2P extractor (--addpeer), and a block mined after the
// restart is announced and counted, all in the same run.
func TestRecordAllInOneNodeRestart(t *testing.T) {
	p2pAddr := freeAddr(t)
	n := testenv.StartBtcd(t, testenv.BtcdOptions{Network: "simnet", AddPeers: []string{p2pAddr}})
	dir := filepath.Join(t.TempDir(), "tape")
	p := startProc(t, "recording", "record", "--dir", dir, "--node", "sim",
		"--rpc-host", n.RPCAddr, "--rpc-user", n.RPCUser, "--rpc-password", n.RPCPass,
		"--query-interval", "0.2", "--query-interval-less-frequent", "0.2",
		"--p2p-address", p2pAddr, "--p2p-network", "simnet", "--ping-interval", "0.2")
	connections := func() float64 { return p.metricWith("peertape_p2p_connections_total", nil) }
	invs := func() float64 {
		return p.metricWith("peertape_p2p_events_total", map[string]string{"type": "inventory_announcement"})
	}
	// btcd retries its --addpeer every few seconds until the extractor listens.
	testenv.WaitFor(t, 30*time.Second, "btcd connected to the P2P extractor", func() bool { return connections() >= 1 })
	before := n.Generate(1)
	pollUntil(t, "the first block announced", func() bool { return invs() >= 1 })

	n.Restart()
	testenv.WaitFor(t, 30*time.Second, "btcd reconnected after its restart", func() bool { return connections() >= 2 })
	after := n.Generate(1)
	tip := n.BlockCount()
	rpcBase := p.recordedKind("rpc")
	pollUntil(t, "the block mined after the restart announced, fresh RPC results", func() bool {
		return invs() >= 2 && p.recordedKind("rpc") >= rpcBase+20
	})
	if code := p.signal(syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	announced := map[string]bool{}
	var lastBlocks int64 = -1
	for _, ev := range readAll(t, dir) {
		e, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range e.GetP2PExtractor().GetInventoryAnnouncement().GetInventory() {
			announced[string(it.GetBlock())] = true
		}
		if bi := e.GetRpcExtractor().GetBlockchainInfo(); bi != nil {
			lastBlocks = int64(bi.GetBlocks())
		}
	}
	if !announced[string(before[0][:])] || !announced[string(after[0][:])] {
		t.Errorf("blocks before (%v) and after (%v) the restart: announced %d blocks", announced[string(before[0][:])], announced[string(after[0][:])], len(announced))
	}
	if lastBlocks != tip {
		t.Errorf("last getblockchaininfo has %d blocks, node %d", lastBlocks, tip)
	}
}
