package event

import (
	"bytes"
	"encoding/hex"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// wire builds protobuf bytes by hand, field by field, independent of the
// generated code, so the golden tests check the schema's field numbers and
// types against what the wire must carry.
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.VarintType)
	return protowire.AppendVarint(w, v)
}
func (w wire) zigzag(num protowire.Number, v int64) wire {
	return w.varint(num, protowire.EncodeZigZag(v))
}
func (w wire) fixed64(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(w, v)
}
func (w wire) double(num protowire.Number, v float64) wire {
	w = protowire.AppendTag(w, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(w, mathFloat64bits(v))
}
func (w wire) bytes(num protowire.Number, b []byte) wire {
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendBytes(w, b)
}
func (w wire) str(num protowire.Number, s string) wire { return w.bytes(num, []byte(s)) }
func (w wire) msg(num protowire.Number, m wire) wire   { return w.bytes(num, m) }

// eventBytes wraps an inner oneof value into event.Event. Go's encoder
// writes plain fields in number order and oneof arms after them (here:
// timestamp 10, then the arm), which is also the order prost writes
// peer-observer's events in (declaration order).
func eventBytes(arm protowire.Number, inner wire, ts uint64) wire {
	return wire(nil).varint(10, ts).msg(arm, inner)
}

func ebpfBytes(arm protowire.Number, inner wire, ts uint64) wire {
	return eventBytes(1, wire(nil).msg(arm, inner), ts)
}

func hash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func meta(peer uint64, addr string, conn uint64, cmd string, inbound bool, size uint64) wire {
	in := uint64(0)
	if inbound {
		in = 1
	}
	return wire(nil).varint(1, peer).str(2, addr).varint(3, conn).str(4, cmd).varint(5, in).varint(6, size)
}

func address(ts uint32, arm protowire.Number, host string, services uint64, port uint32) wire {
	return wire(nil).varint(1, uint64(ts)).varint(9, services).varint(10, uint64(port)).str(arm, host)
}

type goldenCase struct {
	name  string
	raw   wire
	kind  Kind
	typ   string
	check func(t *testing.T, m *pb.Event)
}

func goldenCases() []goldenCase {
	const ts = 1_775_552_833_133
	return []goldenCase{
		{"netmsg_version", ebpfBytes(1, wire(nil).
			msg(1, meta(7, "203.0.113.5:8333", 1, "version", true, 102)).
			msg(13, wire(nil).varint(1, 70016).varint(2, 1033).zigzag(3, 1_775_552_833).
				msg(4, address(0, 2, "198.51.100.1", 0, 8333)).
				msg(5, address(0, 3, "2001:db8::1", 1033, 18333)).
				varint(6, 0xdeadbeef).str(7, "/Satoshi:29.0.0/").zigzag(8, 900000).varint(9, 1)), ts),
			NetMsg, "version", func(t *testing.T, m *pb.Event) {
				me := m.GetEbpfExtractor().GetMessage()
				v := me.GetVersion()
				if me.GetMeta().GetPeerId() != 7 || me.GetMeta().GetConnType() != pb.ConnType_Inbound || v.GetUserAgent() != "/Satoshi:29.0.0/" ||
					v.GetStartHeight() != 900000 || v.GetReceiver().GetIpv4() != "198.51.100.1" || v.GetSender().GetIpv6() != "2001:db8::1" || v.GetSender().GetPort() != 18333 || !v.GetRelay() {
					t.Errorf("version: %v", me)
				}
			}},
		{"netmsg_inv", ebpfBytes(1, wire(nil).
			msg(1, meta(8, "[2001:db8::2]:8333", 2, "inv", false, 73)).
			msg(4, wire(nil).msg(1, wire(nil).bytes(3, hash(0xaa))).msg(1, wire(nil).msg(7, wire(nil).varint(1, 0x40000003).bytes(2, hash(0xbb))))), ts),
			NetMsg, "inv", func(t *testing.T, m *pb.Event) {
				items := m.GetEbpfExtractor().GetMessage().GetInv().GetItems()
				if len(items) != 2 || !bytes.Equal(items[0].GetWtx(), hash(0xaa)) || items[1].GetUnknown().GetInvType() != 0x40000003 {
					t.Errorf("inv: %v", items)
				}
			}},
		{"netmsg_tx", ebpfBytes(1, wire(nil).
			msg(1, meta(9, "10.0.0.1:8333", 3, "tx", true, 4)).
			msg(6, wire(nil).msg(1, wire(nil).bytes(1, hash(1)).bytes(2, hash(2)).bytes(3, []byte{1, 0, 0, 0}))), ts),
			NetMsg, "tx", func(t *testing.T, m *pb.Event) {
				tx := m.GetEbpfExtractor().GetMessage().GetTx().GetTx()
				if !bytes.Equal(tx.GetTxid(), hash(1)) || !bytes.Equal(tx.GetRaw(), []byte{1, 0, 0, 0}) {
					t.Errorf("tx: %v", tx)
				}
			}},
		{"netmsg_ping", ebpfBytes(1, wire(nil).msg(1, meta(1, "127.0.0.1:1", 1, "ping", true, 8)).msg(2, wire(nil).fixed64(1, 0x0102030405060708)), ts),
			NetMsg, "ping", func(t *testing.T, m *pb.Event) {
				if m.GetEbpfExtractor().GetMessage().GetPing().GetValue() != 0x0102030405060708 {
					t.Errorf("ping: %v", m)
				}
			}},
		{"netmsg_unknown_command", ebpfBytes(1, wire(nil).msg(1, meta(1, "127.0.0.1:1", 0, "sendtxrcncl", true, 12)).msg(31, wire(nil).str(1, "sendtxrcncl").bytes(2, []byte{1, 2, 3})), ts),
			NetMsg, "sendtxrcncl", func(t *testing.T, m *pb.Event) {
				if u := m.GetEbpfExtractor().GetMessage().GetUnknown(); u.GetCommand() != "sendtxrcncl" || !bytes.Equal(u.GetPayload(), []byte{1, 2, 3}) {
					t.Errorf("unknown: %v", u)
				}
			}},
		{"netmsg_emptyaddrv2", ebpfBytes(1, wire(nil).msg(1, meta(1, "127.0.0.1:1", 1, "addrv2", true, 0)).varint(40, 1), ts),
			NetMsg, "addrv2", func(t *testing.T, m *pb.Event) {
				if !m.GetEbpfExtractor().GetMessage().GetEmptyaddrv2() {
					t.Errorf("emptyaddrv2: %v", m)
				}
			}},
		{"netconn_inbound", ebpfBytes(2, wire(nil).msg(3, wire(nil).msg(1, wire(nil).varint(1, 12).str(2, "192.0.2.7:50000").varint(3, 1).varint(4, 1)).varint(2, 41)), ts),
			NetConn, "inbound", func(t *testing.T, m *pb.Event) {
				in := m.GetEbpfExtractor().GetConnection().GetInbound()
				if in.GetConn().GetPeerId() != 12 || in.GetConn().GetNetwork() != 1 || in.GetExistingConnections() != 41 {
					t.Errorf("inbound: %v", in)
				}
			}},
		{"netconn_misbehaving", ebpfBytes(2, wire(nil).msg(5, wire(nil).varint(1, 12).str(2, "header with invalid proof of work")), ts),
			NetConn, "misbehaving", func(t *testing.T, m *pb.Event) {
				if m.GetEbpfExtractor().GetConnection().GetMisbehaving().GetMessage() != "header with invalid proof of work" {
					t.Errorf("misbehaving: %v", m)
				}
			}},
		{"mempool_replaced", ebpfBytes(4, wire(nil).msg(2, wire(nil).bytes(1, hash(3)).varint(2, 141).varint(3, 1000).varint(4, 1_775_552_000).
			bytes(5, hash(4)).varint(6, 141).varint(7, 2000).varint(8, 1)), ts),
			Mempool, "replaced", func(t *testing.T, m *pb.Event) {
				r := m.GetEbpfExtractor().GetMempool().GetReplaced()
				if r.GetReplacedVsize() != 141 || r.GetReplacementFee() != 2000 || !r.GetReplacedByTransaction() {
					t.Errorf("replaced: %v", r)
				}
			}},
		{"mempool_removed", ebpfBytes(4, wire(nil).msg(3, wire(nil).bytes(1, hash(5)).str(2, "sizelimit").varint(3, 200).varint(4, 300).varint(5, 1_775_552_000)), ts),
			Mempool, "removed", func(t *testing.T, m *pb.Event) {
				if m.GetEbpfExtractor().GetMempool().GetRemoved().GetReason() != "sizelimit" {
					t.Errorf("removed: %v", m)
				}
			}},
		{"validation_block_connected", ebpfBytes(5, wire(nil).msg(1, wire(nil).bytes(1, hash(6)).varint(2, 900001).varint(3, 3500).varint(4, 9000).varint(5, 20000).varint(6, 250_000_000)), ts),
			Validation, "block_connected", func(t *testing.T, m *pb.Event) {
				b := m.GetEbpfExtractor().GetValidation().GetBlockConnected()
				if b.GetHeight() != 900001 || b.GetConnectionTime() != 250_000_000 {
					t.Errorf("block_connected: %v", b)
				}
			}},
		{"addrman_new", ebpfBytes(3, wire(nil).msg(1, wire(nil).varint(1, 1).varint(2, 5).varint(3, 7).str(4, "198.51.100.9:8333").varint(5, 64496).str(6, "198.51.100.1:8333").varint(7, 64497)), ts),
			Addrman, "new", func(t *testing.T, m *pb.Event) {
				if m.GetEbpfExtractor().GetAddrman().GetNew().GetAddr_AS() != 64496 {
					t.Errorf("addrman: %v", m)
				}
			}},
		{"rpc_peer_infos", eventBytes(2, wire(nil).msg(1, wire(nil).msg(1, wire(nil).
			varint(1, 3).str(2, "198.51.100.3:8333").str(3, "10.0.0.2:8333").str(4, "").str(5, "ipv4").varint(6, 64496).str(7, "0000000000000409").varint(8, 1).
			varint(9, 1).varint(10, 2).varint(11, 3).varint(12, 4).varint(13, 1000).varint(14, 2000).varint(15, 1_775_000_000).varint(16, 0).
			double(17, 0.0123).double(18, 0.01).double(19, 0).varint(20, 70016).str(21, "/Satoshi:28.1.0/").varint(22, 0).varint(23, 1).varint(24, 0).
			varint(25, 899000).varint(26, 900000).varint(27, 900000).
			varint(28, 900001).varint(28, 900002). // proto2: repeated scalars unpacked
			varint(29, 1).varint(30, 50).varint(31, 2).str(32, "noban").double(33, 0.00001).
			msg(34, wire(nil).str(1, "inv").varint(2, 4000)).msg(34, wire(nil).str(1, "ping").varint(2, 32)).
			msg(35, wire(nil).str(1, "tx").varint(2, 9000)).
			str(36, "outbound-full-relay").str(37, "v2").varint(38, 0).double(129, 0))), ts),
			RPC, "peer_infos", func(t *testing.T, m *pb.Event) {
				p := m.GetRpcExtractor().GetPeerInfos().GetInfos()[0]
				if p.GetPingTime() != 0.0123 || p.GetBytesSentPerMessage()["inv"] != 4000 || len(p.GetInflight()) != 2 || p.GetTransportProtocolType() != "v2" || p.GetPermissions()[0] != "noban" {
					t.Errorf("peer info: %v", p)
				}
			}},
		{"rpc_uptime", eventBytes(2, wire(nil).varint(3, 86400), ts),
			RPC, "uptime", func(t *testing.T, m *pb.Event) {
				if m.GetRpcExtractor().GetUptime() != 86400 {
					t.Errorf("uptime: %v", m)
				}
			}},
		{"rpc_orphan_txs", eventBytes(2, wire(nil).msg(10, wire(nil).msg(1, wire(nil).str(1, strings.Repeat("ab", 32)).str(2, strings.Repeat("cd", 32)).
			varint(3, 250).varint(4, 141).varint(5, 562).varint(6, 4).varint(6, 9))), ts),
			RPC, "orphan_txs", func(t *testing.T, m *pb.Event) {
				o := m.GetRpcExtractor().GetOrphanTxs().GetOrphans()[0]
				if o.GetVsize() != 141 || len(o.GetFrom()) != 2 || o.GetFrom()[1] != 9 {
					t.Errorf("orphan: %v", o)
				}
			}},
		{"p2p_ping_duration", eventBytes(3, wire(nil).msg(1, wire(nil).varint(1, 1_250_000)), ts),
			P2P, "ping_duration", func(t *testing.T, m *pb.Event) {
				if m.GetP2PExtractor().GetPingDuration().GetDuration() != 1_250_000 {
					t.Errorf("ping duration: %v", m)
				}
			}},
		{"p2p_address_announcement", eventBytes(3, wire(nil).msg(2, wire(nil).msg(1, address(1_775_552_000, 5, "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion", 1033, 8333))), ts),
			P2P, "address_announcement", func(t *testing.T, m *pb.Event) {
				a := m.GetP2PExtractor().GetAddressAnnouncement().GetAddresses()[0]
				if !strings.HasSuffix(a.GetTorv3(), ".onion") || a.GetPort() != 8333 {
					t.Errorf("addr: %v", a)
				}
			}},
		{"p2p_feefilter", eventBytes(3, wire(nil).zigzag(4, 1000), ts),
			P2P, "feefilter_announcement", func(t *testing.T, m *pb.Event) {
				if m.GetP2PExtractor().GetFeefilterAnnouncement() != 1000 {
					t.Errorf("feefilter: %v", m)
				}
			}},
		{"log_block_checked", eventBytes(4, wire(nil).varint(1, 1_775_552_833_133_456).varint(2, 26).str(3, "msghand").
			msg(6, wire(nil).str(1, strings.Repeat("1f", 32)).str(2, "bad-txnmrklroot").str(3, "hashMerkleRoot mismatch")), ts),
			Log, "block_checked_log", func(t *testing.T, m *pb.Event) {
				l := m.GetLogExtractor()
				if l.GetCategory() != pb.LogDebugCategory_VALIDATION || l.GetThreadname() != "msghand" || l.GetBlockCheckedLog().GetState() != "bad-txnmrklroot" {
					t.Errorf("log: %v", l)
				}
			}},
		{"log_unknown", eventBytes(4, wire(nil).varint(1, 0).varint(2, 0).msg(4, wire(nil).str(1, "")), ts),
			Log, "unknown_log_message", func(t *testing.T, m *pb.Event) {
				if m.GetLogExtractor().GetUnknownLogMessage() == nil {
					t.Errorf("log: %v", m)
				}
			}},
		{"ipc_block_tip", eventBytes(5, wire(nil).msg(1, wire(nil).varint(1, 900002).bytes(2, hash(7))), ts),
			IPC, "block_tip", func(t *testing.T, m *pb.Event) {
				if m.GetIpcExtractor().GetBlockTip().GetHeight() != 900002 {
					t.Errorf("ipc: %v", m)
				}
			}},
		// An arm from a newer extractor, and an unknown field inside a
		// known message: both survive decoding and re-encoding.
		{"unknown_arm", eventBytes(9, wire(nil).varint(1, 5).str(2, "future"), ts), Unknown, "", func(t *testing.T, m *pb.Event) {
			if len(m.ProtoReflect().GetUnknown()) == 0 {
				t.Errorf("unknown arm lost")
			}
		}},
		{"unknown_field_in_ping", ebpfBytes(1, wire(nil).msg(1, meta(1, "127.0.0.1:1", 1, "ping", true, 8)).msg(2, wire(nil).fixed64(1, 42).str(99, "new field")), ts),
			NetMsg, "ping", func(t *testing.T, m *pb.Event) {
				if len(m.GetEbpfExtractor().GetMessage().GetPing().ProtoReflect().GetUnknown()) == 0 {
					t.Errorf("unknown field lost")
				}
			}},
	}
}

func TestGoldenEvents(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Parse(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != c.kind || ev.Type != c.typ || ev.Time != 1_775_552_833_133 {
				t.Fatalf("classified as %s:%s at %d, want %s:%s", ev.Kind, ev.Type, ev.Time, c.kind, c.typ)
			}
			m, err := ev.Decode()
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, m)
			again, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, c.raw) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, []byte(c.raw))
			}
			js, err := AppendJSONLine(nil, ev, m)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".hex", []byte(hex.EncodeToString(c.raw)+"\n"))
			golden(t, c.name+".json", js)
		})
	}
}

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n got %s\nwant %s", p, got, want)
	}
}

// Decoding is tolerant like peer-observer's Rust decoder (a missing
// required field is fine); encoding refuses to produce such an event.
func TestRequiredFields(t *testing.T) {
	raw := ebpfBytes(1, wire(nil).msg(2, wire(nil).fixed64(1, 1)), 5) // MessageEvent without meta
	ev, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ev.Decode()
	if err != nil {
		t.Fatalf("tolerant decode failed: %v", err)
	}
	if _, err := New(m); err == nil {
		t.Fatal("New encoded an event with a missing required field")
	}
	if _, err := New(&pb.Event{}); err == nil {
		t.Fatal("New encoded an event without timestamp")
	}
}

// Decoders must accept packed repeated scalars too (another encoder may
// pack them); they decode to the same values.
func TestPackedRepeatedDecodes(t *testing.T) {
	packed := eventBytes(2, wire(nil).msg(10, wire(nil).msg(1, wire(nil).str(1, "a").str(2, "b").
		varint(3, 1).varint(4, 1).varint(5, 1).bytes(6, protowire.AppendVarint(protowire.AppendVarint(nil, 4), 9)))), 1)
	ev, err := Parse(packed)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if from := m.GetRpcExtractor().GetOrphanTxs().GetOrphans()[0].GetFrom(); len(from) != 2 || from[0] != 4 || from[1] != 9 {
		t.Fatalf("packed from = %v", from)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, raw := range [][]byte{{0xff}, {0x0a, 0x05, 0x01}, {0x52}, {0x0a, 0x02, 0x0a, 0x09}} {
		if _, err := Parse(raw); err == nil {
			t.Errorf("%x: no error", raw)
		}
	}
	ev, err := Parse(nil)
	if err != nil || ev.Kind != Unknown {
		t.Errorf("empty event: %v %v", ev.Kind, err)
	}
}

func mathFloat64bits(f float64) uint64 { return math.Float64bits(f) }

// A oneof message arm that occurs twice merges, as a full decode does: the
// classification must agree with the decoded event.
func TestRepeatedArmMerges(t *testing.T) {
	added := wire(nil).msg(1, wire(nil).bytes(1, hash(1)).varint(2, 100).varint(3, 200))
	cases := []struct {
		name string
		raw  wire
		kind Kind
		typ  string
	}{
		// ebpf{mempool{added}} then an empty ebpf{}: still mempool:added.
		{"empty repeat", wire(nil).varint(10, 1).msg(1, wire(nil).msg(4, added)).msg(1, nil), Mempool, "added"},
		// rpc first, then ebpf: the last arm wins.
		{"other arm", wire(nil).varint(10, 1).msg(2, wire(nil).varint(3, 5)).msg(1, wire(nil).msg(4, added)), Mempool, "added"},
		// meta split over two occurrences: the command survives.
		{"split meta", ebpfBytes(1, wire(nil).msg(1, meta(1, "a:1", 1, "ping", true, 8)).msg(1, wire(nil).varint(1, 2)).msg(2, wire(nil).fixed64(1, 1)), 1), NetMsg, "ping"},
	}
	for _, c := range cases {
		ev, err := Parse(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != c.kind || ev.Type != c.typ {
			t.Errorf("%s: classified %s:%s, want %s:%s", c.name, ev.Kind, ev.Type, c.kind, c.typ)
		}
		m, err := ev.Decode()
		if err != nil {
			t.Fatal(err)
		}
		re, err := Parse(mustMarshal(t, m))
		if err != nil || re.Kind != ev.Kind || re.Type != ev.Type {
			t.Errorf("%s: after re-encoding %s:%s (%v)", c.name, re.Kind, re.Type, err)
		}
	}
}

func mustMarshal(t *testing.T, m *pb.Event) []byte {
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
