package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fastOptions(t testing.TB, f *fakeCore) Options {
	return Options{
		Host: f.host(), User: f.user, Password: f.pass, Logger: testLogger(t), Timeout: 5 * time.Second,
		QueryInterval: 50 * time.Millisecond, QueryIntervalLessFrequent: 80 * time.Millisecond,
	}
}

// testLogger logs through t.Log, so output appears with -v or on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestCoreFixtures polls a server answering with Core-shaped results for
// every RPC and checks each event against a golden rendering, plus the
// values the mapping must get right by hand.
func TestCoreFixtures(t *testing.T) {
	f := newFakeCore(t, coreFixtures(t))
	reg := prometheus.NewRegistry()
	o := fastOptions(t, f)
	o.Registerer, o.Node = reg, "core-a"
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	stop := runExtractor(t, x, c)
	types := []string{"peer_infos", "mempool_info", "uptime", "net_totals", "memory_info", "addrman_info",
		"chain_tx_stats", "network_info", "blockchain_info", "orphan_txs", "addrman"}
	waitUntil(t, c, 10*time.Second, "one event of every RPC and the node's identity", func() bool {
		if len(c.nodeInfos()) == 0 {
			return false
		}
		got := c.byType(t)
		for _, ty := range types {
			if len(got[ty]) == 0 {
				return false
			}
		}
		return true
	})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	got := c.byType(t)
	for _, ty := range types {
		golden(t, filepath.Join("testdata", "golden", ty+".json"), got[ty][0])
	}
	for _, ev := range c.events {
		if ev.Node != "core-a" {
			t.Fatalf("event node %q, want core-a", ev.Node)
		}
		if ev.Time <= 0 {
			t.Fatalf("event time %d", ev.Time)
		}
	}

	peers := got["peer_infos"][0].GetPeerInfos().GetInfos()
	if len(peers) != 3 {
		t.Fatalf("%d peers, want 3", len(peers))
	}
	p := peers[0]
	if p.GetId() != 3 || p.GetMappedAs() != 64496 || p.GetServices() != "0000000000000c09" || p.GetPingTime() != 0.021731 ||
		p.GetConnectionType() != "outbound-full-relay" || p.GetTransportProtocolType() != "v2" || p.GetMinfeefilter() != 0.00001 ||
		p.GetBytesReceivedPerMessage()["cmpctblock"] != 233108 || len(p.GetInflight()) != 1 || p.GetInflight()[0] != 894261 {
		t.Errorf("peer 3 mapped wrong: %v", p)
	}
	// Core's -1 heights go into int64 fields unchanged; the missing
	// optional mapped_as and addrlocal become zero values.
	if q := peers[1]; q.GetSyncedHeaders() != -1 || q.GetMappedAs() != 0 || q.GetAddressLocal() != "" || q.GetPingWait() != 6.024113 ||
		len(q.GetPermissions()) != 2 || q.GetBytesReceivedPerMessage()["*other*"] != 33 {
		t.Errorf("peer 17 mapped wrong: %v", q)
	}
	if m := got["mempool_info"][0].GetMempoolInfo(); m.GetMempoolminfee() != 0.00001 || m.GetTotalFee() != 0.18339201 || !m.GetFullrbf() {
		t.Errorf("mempool fee rates must stay BTC/kvB as Core returns them: %v", m)
	}
	orphan := got["orphan_txs"][0].GetOrphanTxs().GetOrphans()[0]
	wantTxid, _ := hex.DecodeString("55dbe65ef4c762f5bbda091fbc8893a5745595924f314aaf35f391d12fcd6cbc")
	if orphan.GetTransaction() == nil || !equalBytes(orphan.GetTransaction().GetTxid(), wantTxid) || len(orphan.GetTransaction().GetRaw()) != 191 ||
		orphan.GetVsize() != 110 || len(orphan.GetFrom()) != 2 {
		t.Errorf("orphan mapped wrong (tx hashes are internal byte order): %v", orphan)
	}
	am := got["addrman"][0].GetAddrman()
	if e := am.GetNew()[12].GetEntries()[40]; e.GetNetwork() != "onion" || e.MappedAs != nil || e.GetServices() != 1033 {
		t.Errorf("addrman new[12][40] = %v", e)
	}
	if e := am.GetTried()[77].GetEntries()[5]; e.GetAddress() != "198.51.100.99" {
		t.Errorf("addrman tried[77][5] = %v", e)
	}
	if got["uptime"][0].GetUptime() != 7312 {
		t.Errorf("uptime %d", got["uptime"][0].GetUptime())
	}
	infos := c.nodeInfos()
	want := event.NodeInfo{Implementation: "Bitcoin Core", Version: "/Satoshi:29.0.0/", Network: "mainnet"}
	if len(infos) != 1 || infos[0] != want {
		t.Errorf("node info %v, want once %v", infos, want)
	}
	if n := counter(t, reg, "rpcextractor_rpc_fetch_duration_seconds", map[string]string{"rpc_method": "getpeerinfo"}); n < 1 {
		t.Errorf("fetch duration histogram has %v samples", n)
	}
	if n := counter(t, reg, "rpcextractor_rpc_events_total", map[string]string{"rpc_method": "getrawaddrman"}); n < 1 {
		t.Errorf("events_total{getrawaddrman} = %v", n)
	}
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

// golden compares msg with the protojson file at path (semantically, so
// map order and protojson's whitespace do not matter); -update rewrites it.
func golden(t *testing.T, path string, msg *pb.Rpc) {
	t.Helper()
	if *update {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	want := new(pb.Rpc)
	if err := protojson.Unmarshal(b, want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !proto.Equal(msg, want) {
		gotJSON, _ := protojson.MarshalOptions{Multiline: true}.Marshal(msg)
		t.Errorf("%s differs (run with -update if intended); got:\n%s", path, gotJSON)
	}
}

func loadVariant(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "core", "rpc-variants", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVariants(t *testing.T) {
	ni, err := convertNetworkInfo(loadVariant(t, "getnetworkinfo-knots-warnings-string.json"))
	if err != nil {
		t.Fatal(err)
	}
	if w := ni.GetNetworkInfo().GetWarnings(); len(w) != 1 || !strings.HasPrefix(w[0], "This is a pre-release") {
		t.Errorf("string warnings become a one-element list, got %q", w)
	}
	if ni.GetNetworkInfo().GetTimeOffset() != -1 || len(ni.GetNetworkInfo().GetLocalAddresses()) != 0 {
		t.Errorf("knots network info: %v", ni)
	}

	cts, err := convertChainTxStats(loadVariant(t, "getchaintxstats-empty-window.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := cts.GetChainTxStats()
	if s.WindowTxCount != nil || s.WindowInterval != nil || s.TxRate != nil || s.TxCount == nil || s.GetTxCount() != 0 {
		t.Errorf("an empty window leaves the optional fields unset and txcount zero: %v", s)
	}

	bci, err := convertBlockchainInfo(loadVariant(t, "getblockchaininfo-pruned-ibd.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := bci.GetBlockchainInfo()
	if !b.GetPruned() || b.GetPruneHeight() != 198812 || b.GetPruneTargetSize() != 1048576000 || !b.GetInitialblockdownload() ||
		b.GetChain() != "signet" || len(b.GetWarnings()) != 1 {
		t.Errorf("pruned signet: %v", b)
	}
	full, err := convertBlockchainInfo(coreFixtures(t)[GetBlockchainInfo])
	if err != nil {
		t.Fatal(err)
	}
	if full.GetBlockchainInfo().PruneHeight != nil {
		t.Error("an unpruned node has no prune height; the optional field stays unset")
	}
}

func TestModelLeniency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conv    converter
		in      string
		wantErr bool
		check   func(*pb.Rpc) bool
	}{
		{"headers -1 saturates to 0", convertBlockchainInfo, `{"chain":"regtest","blocks":0,"headers":-1}`, false,
			func(m *pb.Rpc) bool { return m.GetBlockchainInfo().GetHeaders() == 0 }},
		{"quoted number", convertUptime, `"42"`, false, func(m *pb.Rpc) bool { return m.GetUptime() == 42 }},
		{"null uptime", convertUptime, `null`, true, nil},
		{"uptime not a number", convertUptime, `"soon"`, true, nil},
		{"huge uint64 services", convertRawAddrman, `{"new":{"1/2":{"services":18446744073709551615}}}`, false,
			func(m *pb.Rpc) bool { return m.GetAddrman().GetNew()[1].GetEntries()[2].GetServices() == 1<<64-1 }},
		{"getmemoryinfo without locked", convertMemoryInfo, `{}`, true, nil},
		{"peers not an array", convertPeerInfo, `{"id":1}`, true, nil},
		{"empty peer list", convertPeerInfo, `[]`, false, func(m *pb.Rpc) bool { return m.GetPeerInfos() != nil && len(m.GetPeerInfos().GetInfos()) == 0 }},
		{"btcd upload target missing", convertNetTotals, `{"totalbytesrecv":10,"totalbytessent":20,"timemillis":30}`, false,
			func(m *pb.Rpc) bool {
				return m.GetNetTotals().GetUploadTarget() != nil && m.GetNetTotals().GetTotalBytesSent() == 20
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := tc.conv(json.RawMessage(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errModel) {
					t.Fatalf("error %v does not wrap errModel", err)
				}
				return
			}
			if !tc.check(msg) {
				t.Fatalf("unexpected result %v", msg)
			}
			if _, err := event.New(&pb.Event{Timestamp: proto.Uint64(1), PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: msg}}); err != nil {
				t.Fatalf("result cannot be encoded (required field unset?): %v", err)
			}
		})
	}
}

// TestPartialAddrman keeps good entries when some keys are malformed.
func TestPartialAddrman(t *testing.T) {
	msg, err := convertRawAddrman(json.RawMessage(`{"new":{"1/2":{"address":"a"},"x":{"address":"b"},"3/y":{}},"tried":{}}`))
	var pe *partialError
	if !errors.As(err, &pe) || !errors.Is(err, errModel) {
		t.Fatalf("err = %v, want a partial model error", err)
	}
	if got := msg.GetAddrman().GetNew(); len(got) != 1 || got[1].GetEntries()[2].GetAddress() != "a" {
		t.Fatalf("good entry lost: %v", msg)
	}
}

// TestBtcdPeerInfoNormalised maps btcd's getpeerinfo (pings in
// microseconds, services as %08d) to Core's units.
func TestBtcdPeerInfoNormalised(t *testing.T) {
	in := `[{"id":1,"addr":"127.0.0.1:9333","addrlocal":"127.0.0.1:51000","services":"00000009","relaytxes":true,
	"lastsend":1,"lastrecv":2,"bytessent":3,"bytesrecv":4,"conntime":5,"timeoffset":0,"pingtime":1520,"pingwait":250,
	"version":70016,"subver":"/p2p-extractor:0.1/","inbound":false,"startingheight":0,"currentheight":0,"banscore":0,
	"feefilter":0,"syncnode":false,"v2_connection":false}]`
	msg, err := convertPeerInfo(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	p := msg.GetPeerInfos().GetInfos()[0]
	if p.GetPingTime() != 0.00152 || p.GetPingWait() != 0.00025 || p.GetServices() != "0000000000000009" || p.GetTransportProtocolType() != "v1" {
		t.Fatalf("btcd peer not normalised: %v", p)
	}
	// The same keys from Core (network present) pass through untouched.
	core := strings.Replace(in, `"syncnode":false`, `"network":"ipv4"`, 1)
	msg, _ = convertPeerInfo(json.RawMessage(core))
	if p := msg.GetPeerInfos().GetInfos()[0]; p.GetPingTime() != 1520 || p.GetServices() != "00000009" {
		t.Fatalf("Core-shaped peer changed: %v", p)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no auth", Options{}, "password"},
		{"bad host", Options{Host: "localhost", Password: "x"}, "host:port"},
		{"bad scheme", Options{Host: "ftp://a:1", Password: "x"}, "scheme"},
		{"unknown disable", Options{Password: "x", Disable: []string{"getinfo"}}, "unknown RPC"},
		{"all disabled", Options{Password: "x", Disable: names()}, "every RPC is disabled"},
		{"missing cert", Options{Password: "x", TLSCertFile: "/nonexistent/cert"}, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
		})
	}
	x, err := New(Options{Host: "https://127.0.0.1:8334", Password: "x", Disable: []string{"GetRawAddrman", " uptime "}})
	if err != nil {
		t.Fatal(err)
	}
	if !x.opts.TLS || x.host != "127.0.0.1:8334" || len(x.Enabled()) != len(methods)-2 {
		t.Fatalf("https URL: tls=%v host=%s enabled=%v", x.opts.TLS, x.host, x.Enabled())
	}
}
