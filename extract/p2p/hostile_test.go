package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peertape/peertape/proto/pb"
)

// TestHostileInputClosesOnlyThatConnection: each bad message closes its
// connection with a counted reason; the extractor keeps accepting and a
// well-behaved node connected alongside keeps working.
func TestHostileInputClosesOnlyThatConnection(t *testing.T) {
	c := &collector{}
	reg := prometheus.NewRegistry()
	x := start(t, Options{Network: "regtest", PingInterval: time.Hour, Registerer: reg, MaxMessageSize: 1 << 16,
		HandshakeTimeout: 500 * time.Millisecond}, c)
	good := dialNode(t, x, wire.TestNet)
	good.handshake("/Satoshi:29.0.0/")

	hugeHeader := frame(t, wire.TestNet, "inv", nil)
	binary.LittleEndian.PutUint32(hugeHeader[16:20], 0xffffffff)
	badChecksum := frame(t, wire.TestNet, "inv", []byte{0})
	badChecksum[20] ^= 0xff
	var tooMany bytes.Buffer
	wire.WriteVarInt(&tooMany, 0, 1001)
	tooMany.Write(make([]byte, 1001*10))

	for _, tc := range []struct {
		name     string
		noHello  bool // send before any version
		raw      []byte
		reason   string
		noHeader bool
	}{
		{"v2 handshake bytes", true, bytes.Repeat([]byte{0x9f}, 64), "wrong_magic", false},
		{"other network", true, frame(t, wire.MainNet, "version", nil), "wrong_magic", false},
		{"length beyond the limit", false, hugeHeader, "oversized", false},
		{"bad checksum", false, badChecksum, "malformed", false},
		{"command with bytes after NUL", false, frame(t, wire.TestNet, "inv\x00x", nil), "malformed", false},
		{"unprintable command", false, frame(t, wire.TestNet, "in\x01v", nil), "malformed", false},
		{"truncated inv", false, frame(t, wire.TestNet, "inv", []byte{5, 1, 0}), "malformed", false},
		{"inv with trailing bytes", false, frame(t, wire.TestNet, "inv", append([]byte{0}, 1, 2)), "malformed", false},
		{"addrv2 over 1000 entries", false, frame(t, wire.TestNet, "addrv2", tooMany.Bytes()), "oversized", false},
		{"feefilter too short", false, frame(t, wire.TestNet, "feefilter", []byte{1, 2, 3}), "malformed", false},
		{"inv before version", true, frame(t, wire.TestNet, "inv", []byte{0}), "protocol", false},
		{"second version", false, nil, "protocol", false},
		{"silence after connect", true, nil, "timeout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := gauge(t, reg, "peertape_p2p_protocol_errors_total", map[string]string{"reason": tc.reason})
			n := dialNode(t, x, wire.TestNet)
			if !tc.noHello {
				n.handshake("/evil:1.0/")
			}
			switch {
			case tc.name == "second version":
				zero := wire.NewNetAddressIPPort(nil, 0, 0)
				n.send(wire.NewMsgVersion(zero, zero, 1, 0))
			case tc.raw != nil:
				n.sendRaw(tc.raw)
			}
			n.expectClosed()
			waitFor(t, 5*time.Second, "the error to be counted", func() bool {
				return gauge(t, reg, "peertape_p2p_protocol_errors_total", map[string]string{"reason": tc.reason}) == before+1
			})
		})
	}
	// The good node is still served.
	good.send(wire.NewMsgFeeFilter(4242))
	waitFor(t, 5*time.Second, "the good node's feefilter", func() bool {
		return c.count(t, func(m *pb.P2P) bool { return m.GetFeefilterAnnouncement() == 4242 }) == 1
	})
}

// TestSeveralNodesKeptApart: two nodes with different user agents; each
// connection's events carry the node name NodeFor gives it, and metrics
// tell them apart.
func TestSeveralNodesKeptApart(t *testing.T) {
	c := &collector{}
	reg := prometheus.NewRegistry()
	x := start(t, Options{Network: "signet", PingInterval: time.Hour, Registerer: reg, MaxConnections: 2,
		NodeFor: func(ci ConnInfo) string {
			if strings.Contains(ci.UserAgent, "Knots") {
				return "knots"
			}
			return "core"
		}}, c)
	core := dialNode(t, x, wire.SigNet)
	core.handshake("/Satoshi:29.0.0/")
	knots := dialNode(t, x, wire.SigNet)
	knots.handshake("/Satoshi:28.1.0/Knots:20250305/")
	core.send(wire.NewMsgFeeFilter(1000))
	knots.send(wire.NewMsgFeeFilter(2000))
	waitFor(t, 5*time.Second, "both feefilters", func() bool { msgs, _ := c.p2p(t); return len(msgs) == 2 })
	msgs, nodes := c.p2p(t)
	for i, m := range msgs {
		want := map[int64]string{1000: "core", 2000: "knots"}[m.GetFeefilterAnnouncement()]
		if nodes[i] != want {
			t.Errorf("feefilter %d from node %q, want %q", m.GetFeefilterAnnouncement(), nodes[i], want)
		}
	}
	for _, ua := range []string{"/Satoshi:29.0.0/", "/Satoshi:28.1.0/Knots:20250305/"} {
		if gauge(t, reg, "peertape_p2p_connected", map[string]string{"user_agent": ua}) != 1 {
			t.Errorf("no connected series for %s", ua)
		}
	}
	c.mu.Lock()
	if len(c.infos) != 2 || c.infos[1].Implementation != "Bitcoin Knots" {
		t.Errorf("node infos %v", c.infos)
	}
	c.mu.Unlock()

	// A third connection is refused: MaxConnections is 2.
	third := dialNode(t, x, wire.SigNet)
	third.expectClosed()
	if gauge(t, reg, "peertape_p2p_connections_refused_total", nil) != 1 {
		t.Error("third connection not counted as refused")
	}
	// When one leaves, its series goes and the other stays.
	knots.conn.Close()
	waitFor(t, 5*time.Second, "the knots series to disappear", func() bool {
		return gauge(t, reg, "peertape_p2p_connected", map[string]string{"user_agent": "/Satoshi:28.1.0/Knots:20250305/"}) == 0
	})
	core.send(wire.NewMsgFeeFilter(3000))
	waitFor(t, 5*time.Second, "core still served", func() bool { msgs, _ := c.p2p(t); return len(msgs) == 3 })
}

func TestDisableFlags(t *testing.T) {
	c := &collector{}
	x := start(t, Options{Network: "regtest", PingInterval: 20 * time.Millisecond, DisablePing: true, DisableAddrV2: true,
		DisableInvs: true, DisableFeeFilter: true}, c)
	n := dialNode(t, x, wire.TestNet)
	n.handshake("/Satoshi:29.0.0/")
	n.send(wire.NewMsgFeeFilter(1))
	n.send(wire.NewMsgInv())
	n.sendRaw(frame(t, wire.TestNet, "addrv2", addrV2Payload(t)))
	n.send(wire.NewMsgPing(7))
	// The pong proves everything before it was processed.
	for {
		cmd, _ := n.recv()
		if cmd == wire.CmdPing {
			t.Fatal("the extractor pings with DisablePing")
		}
		if cmd == wire.CmdPong {
			break
		}
	}
	if msgs, _ := c.p2p(t); len(msgs) != 0 {
		t.Fatalf("%d events with every event kind disabled", len(msgs))
	}
}

func TestReadMessage(t *testing.T) {
	good := frame(t, wire.SimNet, "ping", make([]byte, 8))
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		cmd  string
	}{
		{"good", good, nil, "ping"},
		{"short header", good[:10], io.ErrUnexpectedEOF, ""},
		{"short payload", good[:28], io.ErrUnexpectedEOF, "ping"},
		{"empty command", frame(t, wire.SimNet, "", nil), ErrMalformed, ""},
		{"12-char command", frame(t, wire.SimNet, "getcfcheckpt", nil), nil, "getcfcheckpt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, _, err := readMessage(bufio.NewReader(bytes.NewReader(tc.in)), wire.SimNet, 100)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cmd != tc.cmd {
				t.Fatalf("cmd = %q, want %q", cmd, tc.cmd)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Network: "liquid"}); err == nil || !strings.Contains(err.Error(), "unknown network") {
		t.Errorf("unknown network: %v", err)
	}
	if _, err := New(Options{UserAgent: strings.Repeat("a", 300)}); err == nil {
		t.Error("over-long user agent accepted")
	}
	x, err := New(Options{Network: "Testnet4"})
	if err != nil || x.magic != wire.TestNet4 || x.opts.PingInterval != DefaultPingInterval {
		t.Errorf("New(testnet4) = %v, %v", x, err)
	}
}
