package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// testLogger logs through t.Log (shown with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// collector records events and node infos.
type collector struct {
	mu     sync.Mutex
	events []event.Event
	infos  []event.NodeInfo
}

func (c *collector) Consume(ev event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	return nil
}

func (c *collector) NodeInfo(i event.NodeInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.infos = append(c.infos, i)
}

// p2p returns the decoded p2p messages (with their node names) so far.
func (c *collector) p2p(t testing.TB) (msgs []*pb.P2P, nodes []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.events {
		if ev.Kind != event.P2P {
			t.Fatalf("event kind %v from the p2p extractor", ev.Kind)
		}
		m, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.GetP2PExtractor())
		nodes = append(nodes, ev.Node)
	}
	return msgs, nodes
}

func (c *collector) count(t testing.TB, pred func(*pb.P2P) bool) int {
	msgs, _ := c.p2p(t)
	n := 0
	for _, m := range msgs {
		if pred(m) {
			n++
		}
	}
	return n
}

func isPing(m *pb.P2P) bool { return m.GetPingDuration() != nil }
func isInv(m *pb.P2P) bool  { return m.GetInventoryAnnouncement() != nil }

// waitFor polls cond every 10ms until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs an extractor on a loopback port until the test ends.
func start(t testing.TB, o Options, sink event.Sink) *Extractor {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop within 10s")
		}
	})
	return x
}

// fakeNode plays the node's side of a connection with btcd's wire.
type fakeNode struct {
	t     testing.TB
	conn  net.Conn
	r     *bufio.Reader
	magic wire.BitcoinNet
}

func dialNode(t testing.TB, x *Extractor, magic wire.BitcoinNet) *fakeNode {
	t.Helper()
	c, err := net.Dial("tcp", x.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeNode{t: t, conn: c, r: bufio.NewReader(c), magic: magic}
}

func (n *fakeNode) send(msg wire.Message) {
	n.t.Helper()
	b, err := encodeMessage(msg, n.magic)
	if err != nil {
		n.t.Fatal(err)
	}
	n.sendRaw(b)
}

func (n *fakeNode) sendRaw(b []byte) {
	n.t.Helper()
	if _, err := n.conn.Write(b); err != nil {
		n.t.Fatal(err)
	}
}

func (n *fakeNode) recv() (string, []byte) {
	n.t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	cmd, payload, err := readMessage(n.r, n.magic, 1<<20)
	if err != nil {
		n.t.Fatalf("node reading from the extractor: %v", err)
	}
	return cmd, payload
}

// handshake performs the node's side of the handshake and returns the
// extractor's version and the commands it sent before verack.
func (n *fakeNode) handshake(ua string) (*wire.MsgVersion, []string) {
	n.t.Helper()
	zero := wire.NewNetAddressIPPort(net.IPv4zero, 0, 0)
	v := wire.NewMsgVersion(zero, zero, 42, 7)
	v.UserAgent, v.Services = ua, wire.SFNodeNetwork|wire.SFNodeWitness
	n.send(v)
	n.send(wire.NewMsgWTxIdRelay())
	n.send(wire.NewMsgSendAddrV2())
	n.send(wire.NewMsgVerAck())
	var theirs *wire.MsgVersion
	var cmds []string
	for {
		cmd, payload := n.recv()
		cmds = append(cmds, cmd)
		switch cmd {
		case wire.CmdVersion:
			theirs = new(wire.MsgVersion)
			if err := decodeWire(theirs, payload, protocolVersion); err != nil {
				n.t.Fatal(err)
			}
		case wire.CmdVerAck:
			return theirs, cmds
		}
	}
}

// expectClosed reads until the extractor closes the connection.
func (n *fakeNode) expectClosed() {
	n.t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, n.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			n.t.Fatal("the extractor did not close the connection")
		}
	}
}

// TestHandshakeAndEvents: a node connects, the extractor answers the
// handshake the way peer-observer's does, pings, answers pings, and turns
// pong, inv, addrv2 and feefilter into events.
func TestHandshakeAndEvents(t *testing.T) {
	c := &collector{}
	reg := prometheus.NewRegistry()
	x := start(t, Options{Network: "regtest", PingInterval: 50 * time.Millisecond, Registerer: reg, Node: "n1"}, c)
	n := dialNode(t, x, wire.TestNet)
	v, cmds := n.handshake("/Satoshi:29.0.0/")
	if v.ProtocolVersion != 70016 || v.Services != wire.SFNodeNetwork|wire.SFNodeWitness || v.UserAgent != DefaultUserAgent ||
		v.DisableRelayTx || v.LastBlock != 0 {
		t.Errorf("extractor version %+v", v)
	}
	if got := strings.Join(cmds, ","); got != "version,sendaddrv2,wtxidrelay,verack" {
		t.Errorf("extractor sent %s, want version,sendaddrv2,wtxidrelay,verack", got)
	}

	// Our ping is answered.
	answered := 0
	n.send(wire.NewMsgPing(0xfeedface))
	for {
		cmd, payload := n.recv()
		if cmd == wire.CmdPong {
			var pong wire.MsgPong
			decodeWire(&pong, payload, protocolVersion)
			if pong.Nonce != 0xfeedface {
				t.Fatalf("pong nonce %x", pong.Nonce)
			}
			break
		}
		if cmd == wire.CmdPing { // the extractor's own ping: answer it
			var ping wire.MsgPing
			decodeWire(&ping, payload, protocolVersion)
			n.send(wire.NewMsgPong(ping.Nonce))
			answered++
		}
	}
	// The extractor's ping: its nonce is the send time in ns.
	var ping wire.MsgPing
	for {
		cmd, payload := n.recv()
		if cmd == wire.CmdPing {
			decodeWire(&ping, payload, protocolVersion)
			break
		}
	}
	if d := time.Since(time.Unix(0, int64(ping.Nonce))); d < 0 || d > 10*time.Second {
		t.Errorf("ping nonce %d is not the send time in ns (%v ago)", ping.Nonce, d)
	}
	n.send(wire.NewMsgPong(ping.Nonce))
	answered++
	n.send(wire.NewMsgPong(12345)) // never sent: ignored

	h1, _ := chainhash.NewHashFromStr("00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7")
	inv := wire.NewMsgInv()
	inv.AddInvVect(wire.NewInvVect(wire.InvTypeBlock, h1))
	inv.AddInvVect(wire.NewInvVect(wire.InvType(5), h1))
	inv.AddInvVect(wire.NewInvVect(wire.InvType(77), h1))
	n.send(inv)
	n.sendRaw(frame(t, wire.TestNet, "addrv2", addrV2Payload(t)))
	n.send(wire.NewMsgFeeFilter(1000))
	n.send(wire.NewMsgAddr()) // v1 addr: ignored

	waitFor(t, 10*time.Second, "inv, addrv2, feefilter and the ping events", func() bool {
		if c.count(t, isPing) < answered {
			return false
		}
		msgs, _ := c.p2p(t)
		var haveInv, haveAddr, haveFee, havePing bool
		for _, m := range msgs {
			haveInv = haveInv || m.GetInventoryAnnouncement() != nil
			haveAddr = haveAddr || m.GetAddressAnnouncement() != nil
			haveFee = haveFee || m.GetFeefilterAnnouncement() == 1000
			havePing = havePing || m.GetPingDuration() != nil
		}
		return haveInv && haveAddr && haveFee && havePing
	})
	msgs, nodes := c.p2p(t)
	for i, m := range msgs {
		if nodes[i] != "n1" {
			t.Errorf("event node %q, want n1", nodes[i])
		}
		switch {
		case m.GetPingDuration() != nil:
			if d := m.GetPingDuration().GetDuration(); d == 0 || d > uint64(10*time.Second) {
				t.Errorf("ping duration %d ns", d)
			}
		case m.GetInventoryAnnouncement() != nil:
			items := m.GetInventoryAnnouncement().GetInventory()
			if len(items) != 3 || !bytes.Equal(items[0].GetBlock(), h1[:]) || !bytes.Equal(items[1].GetWtx(), h1[:]) ||
				items[2].GetUnknown().GetInvType() != 77 {
				t.Errorf("inventory %v", items)
			}
		case m.GetAddressAnnouncement() != nil:
			checkAddrs(t, m.GetAddressAnnouncement().GetAddresses())
		}
	}
	if c.count(t, isPing) != answered {
		t.Errorf("%d ping events for %d answered pings; the unsolicited pong must not count", c.count(t, isPing), answered)
	}
	c.mu.Lock()
	infos := append([]event.NodeInfo(nil), c.infos...)
	c.mu.Unlock()
	if len(infos) != 1 || infos[0] != (event.NodeInfo{Implementation: "Bitcoin Core", Version: "/Satoshi:29.0.0/", Network: "regtest"}) {
		t.Errorf("node info %v", infos)
	}
	if v := gauge(t, reg, "peertape_p2p_connected", map[string]string{"remote_host": "127.0.0.1", "user_agent": "/Satoshi:29.0.0/"}); v != 1 {
		t.Errorf("connected gauge %v", v)
	}
	if v := gauge(t, reg, "peertape_p2p_unsolicited_pongs_total", nil); v != 1 {
		t.Errorf("unsolicited pongs %v", v)
	}
}

// addrV2Payload is an addrv2 with one address of each BIP155 network, an
// unknown network and an IPv4-mapped address under the IPv6 id.
func addrV2Payload(t testing.TB) []byte {
	entries := []struct {
		net  byte
		addr string
		port uint16
	}{
		{1, "cb007107", 8333},                         // 203.0.113.7
		{2, "20010db8000000000000000000010002", 8333}, // 2001:db8::1:2
		{4, strings.Repeat("ab", 32), 8333},
		{5, strings.Repeat("cd", 32), 0},
		{6, "fc00000000000000000000000000abcd", 8333},
		{9, "0102", 1},
		{2, "00000000000000000000ffffcb007107", 8333},
	}
	var b bytes.Buffer
	wire.WriteVarInt(&b, 0, uint64(len(entries)))
	for _, e := range entries {
		binary.Write(&b, binary.LittleEndian, uint32(1745827000))
		wire.WriteVarInt(&b, 0, 1033)
		b.WriteByte(e.net)
		raw, _ := hex.DecodeString(e.addr)
		wire.WriteVarInt(&b, 0, uint64(len(raw)))
		b.Write(raw)
		binary.Write(&b, binary.BigEndian, e.port)
	}
	return b.Bytes()
}

func checkAddrs(t testing.TB, addrs []*pb.Address) {
	t.Helper()
	if len(addrs) != 7 {
		t.Fatalf("%d addresses, want 7", len(addrs))
	}
	want := []string{"203.0.113.7", "2001:db8::1:2", "vov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvovq.onion", "zxg43tonzxg43tonzxg43tonzxg43tonzxg43tonzxg43tonzxgq.b32.i2p", "fc00::abcd"}
	got := []string{addrs[0].GetIpv4(), addrs[1].GetIpv6(), addrs[2].GetTorv3(), addrs[3].GetI2P(), addrs[4].GetCjdns()}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("address %d = %q, want %q", i, got[i], want[i])
		}
	}
	if u := addrs[5].GetUnknown(); u.GetId() != 9 || !bytes.Equal(u.GetAddress(), []byte{1, 2}) {
		t.Errorf("unknown network entry %v", addrs[5])
	}
	if u := addrs[6].GetUnknown(); u.GetId() != 2 {
		t.Errorf("IPv4-mapped address under the IPv6 id must be Unknown (BIP155), got %v", addrs[6])
	}
	if addrs[0].GetPort() != 8333 || addrs[0].GetServices() != 1033 || addrs[0].GetTimestamp() != 1745827000 {
		t.Errorf("entry fields %v", addrs[0])
	}
}

// frame builds a raw v1 message with a correct checksum.
func frame(t testing.TB, magic wire.BitcoinNet, cmd string, payload []byte) []byte {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(magic))
	copy(hdr[4:16], cmd)
	binary.LittleEndian.PutUint32(hdr[16:20], uint32(len(payload)))
	sum := chainhash.DoubleHashB(payload)
	copy(hdr[20:24], sum[:4])
	return append(hdr[:], payload...)
}

func gauge(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}
