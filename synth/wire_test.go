package synth

import (
	"bytes"
	"crypto/sha3"
	"encoding/base32"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/peertape/peertape/proto/pb"
)

// Payload sizes and contents are checked against btcd's own wire encoding
// of the decoded message: Metadata.size must be the real payload size,
// and transactions must be real transactions whose hashes are their ids.

func invVects(items []*pb.InventoryItem) []*wire.InvVect {
	out := make([]*wire.InvVect, len(items))
	for i, it := range items {
		var typ wire.InvType
		var h []byte
		switch x := it.Item.(type) {
		case *pb.InventoryItem_Transaction:
			typ, h = wire.InvTypeTx, x.Transaction
		case *pb.InventoryItem_Wtx:
			typ, h = 5, x.Wtx
		case *pb.InventoryItem_WitnessTransaction:
			typ, h = wire.InvTypeWitnessTx, x.WitnessTransaction
		case *pb.InventoryItem_Block:
			typ, h = wire.InvTypeBlock, x.Block
		case *pb.InventoryItem_WitnessBlock:
			typ, h = wire.InvTypeWitnessBlock, x.WitnessBlock
		case *pb.InventoryItem_CompactBlock:
			typ, h = 4, x.CompactBlock
		}
		out[i] = wire.NewInvVect(typ, (*chainhash.Hash)(h))
	}
	return out
}

func header(h *pb.BlockHeader) *wire.BlockHeader {
	return wire.NewBlockHeader(h.GetVersion(), (*chainhash.Hash)(h.GetPrevBlockhash()), (*chainhash.Hash)(h.GetMerkleRoot()), h.GetBits(), h.GetNonce())
}

// addrBytes turns a decoded address back into its BIP155 network id and
// bytes.
func addrBytes(t *testing.T, a *pb.Address) (byte, []byte) {
	t.Helper()
	dec := base32.StdEncoding.WithPadding(base32.NoPadding)
	switch x := a.Address.(type) {
	case *pb.Address_Ipv4:
		ip := netip.MustParseAddr(x.Ipv4).As4()
		return 1, ip[:]
	case *pb.Address_Ipv6:
		ip := netip.MustParseAddr(x.Ipv6).As16()
		return 2, ip[:]
	case *pb.Address_Cjdns:
		ip := netip.MustParseAddr(x.Cjdns).As16()
		if ip[0] != 0xfc {
			t.Fatalf("cjdns address %s outside fc00::/8", x.Cjdns)
		}
		return 6, ip[:]
	case *pb.Address_Torv3:
		if len(x.Torv3) != 52+6 || !strings.HasSuffix(x.Torv3, ".onion") {
			t.Fatalf("torv3 %q: want 52 base32 characters of the key, as peer-observer renders it", x.Torv3)
		}
		b, err := dec.DecodeString(strings.ToUpper(strings.TrimSuffix(x.Torv3, ".onion")))
		if err != nil || len(b) != 32 {
			t.Fatalf("torv3 %q: %v", x.Torv3, err)
		}
		return 4, b
	case *pb.Address_I2P:
		b, err := dec.DecodeString(strings.ToUpper(strings.TrimSuffix(x.I2P, ".b32.i2p")))
		if err != nil || len(b) != 32 {
			t.Fatalf("i2p %q: %v", x.I2P, err)
		}
		return 5, b
	}
	t.Fatalf("address %v", a)
	return 0, nil
}

func legacyAddr(t *testing.T, a *pb.Address) *wire.NetAddress {
	id, b := addrBytes(t, a)
	var ip net.IP
	switch id {
	case 1:
		ip = net.IPv4(b[0], b[1], b[2], b[3])
	case 2:
		ip = net.IP(b)
	default:
		t.Fatalf("%v in a legacy addr message", a)
	}
	return wire.NewNetAddressTimestamp(time.Unix(int64(a.GetTimestamp()), 0), wire.ServiceFlag(a.GetServices()), ip, uint16(a.GetPort()))
}

// checkTx parses a transaction's raw bytes and checks its ids.
func checkTx(t *testing.T, tx *pb.Transaction) *wire.MsgTx {
	t.Helper()
	var m wire.MsgTx
	if err := m.Deserialize(bytes.NewReader(tx.GetRaw())); err != nil {
		t.Fatalf("tx %x does not parse: %v", tx.GetTxid(), err)
	}
	if m.SerializeSize() != len(tx.GetRaw()) {
		t.Fatalf("tx %x: %d bytes, serializes to %d", tx.GetTxid(), len(tx.GetRaw()), m.SerializeSize())
	}
	if h := m.TxHash(); !bytes.Equal(h[:], tx.GetTxid()) {
		t.Fatalf("txid %x, hash of the stripped tx %x", tx.GetTxid(), h)
	}
	if h := m.WitnessHash(); !bytes.Equal(h[:], tx.GetWtxid()) {
		t.Fatalf("wtxid %x, hash of the tx %x", tx.GetWtxid(), h)
	}
	return &m
}

func encodedSize(t *testing.T, m wire.Message) int {
	t.Helper()
	var b bytes.Buffer
	if err := m.BtcEncode(&b, wire.ProtocolVersion, wire.WitnessEncoding); err != nil {
		t.Fatalf("%s: %v", m.Command(), err)
	}
	return b.Len()
}

func TestWireSizesAndTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("75 minutes of events")
	}
	_, msgs, _ := mixRun(t)
	checked := map[string]int{}
	sizes := map[string][2]int{} // min, max of tx sizes
	for _, m := range msgs {
		me := m.GetEbpfExtractor().GetMessage()
		if me == nil {
			continue
		}
		meta := me.GetMeta()
		cmd := meta.GetCommand()
		want := -1
		switch x := me.Msg.(type) {
		case *pb.MessageEvent_Ping:
			want = encodedSize(t, wire.NewMsgPing(x.Ping.GetValue()))
		case *pb.MessageEvent_Oldping:
			want = 0
		case *pb.MessageEvent_Pong:
			want = encodedSize(t, wire.NewMsgPong(x.Pong.GetValue()))
		case *pb.MessageEvent_Inv:
			m := wire.NewMsgInv()
			m.InvList = invVects(x.Inv.GetItems())
			want = encodedSize(t, m)
		case *pb.MessageEvent_Getdata:
			m := wire.NewMsgGetData()
			m.InvList = invVects(x.Getdata.GetItems())
			want = encodedSize(t, m)
		case *pb.MessageEvent_Notfound:
			m := wire.NewMsgNotFound()
			m.InvList = invVects(x.Notfound.GetItems())
			want = encodedSize(t, m)
		case *pb.MessageEvent_Feefilter:
			want = encodedSize(t, wire.NewMsgFeeFilter(x.Feefilter.GetFee()))
		case *pb.MessageEvent_Headers:
			m := wire.NewMsgHeaders()
			for _, h := range x.Headers.GetHeaders() {
				m.AddBlockHeader(header(h))
			}
			want = encodedSize(t, m)
		case *pb.MessageEvent_Getheaders:
			m := wire.NewMsgGetHeaders()
			m.ProtocolVersion = x.Getheaders.GetVersion()
			for _, h := range x.Getheaders.GetLocatorHashes() {
				m.AddBlockLocatorHash((*chainhash.Hash)(h))
			}
			want = encodedSize(t, m)
		case *pb.MessageEvent_Version:
			v := x.Version
			m := wire.NewMsgVersion(legacyAddr(t, v.GetSender()), legacyAddr(t, v.GetReceiver()), v.GetNonce(), v.GetStartHeight())
			m.ProtocolVersion = int32(v.GetVersion())
			m.UserAgent = v.GetUserAgent()
			m.DisableRelayTx = !v.GetRelay()
			want = encodedSize(t, m)
		case *pb.MessageEvent_Addr:
			m := wire.NewMsgAddr()
			if len(x.Addr.GetAddresses()) > wire.MaxAddrPerMsg {
				continue // oversized on purpose (misbehaving peers)
			}
			for _, a := range x.Addr.GetAddresses() {
				m.AddAddress(legacyAddr(t, a))
			}
			want = encodedSize(t, m)
		case *pb.MessageEvent_Addrv2:
			m := wire.NewMsgAddrV2()
			for _, a := range x.Addrv2.GetAddresses() {
				_, b := addrBytes(t, a)
				na := wire.NetAddressV2FromBytes(time.Unix(int64(a.GetTimestamp()), 0), wire.ServiceFlag(a.GetServices()), b, uint16(a.GetPort()))
				if na == nil {
					t.Fatalf("address %v rejected by btcd", a)
				}
				m.AddrList = append(m.AddrList, na)
			}
			want = encodedSize(t, m)
		case *pb.MessageEvent_Tx:
			mt := checkTx(t, x.Tx.GetTx())
			want = mt.SerializeSize()
			s := sizes[cmd]
			if s[0] == 0 || want < s[0] {
				s[0] = want
			}
			s[1] = max(s[1], want)
			sizes[cmd] = s
		case *pb.MessageEvent_Block:
			b := x.Block
			m := wire.NewMsgBlock(header(b.GetHeader()))
			for _, tx := range b.GetTransactions() {
				m.AddTransaction(checkTx(t, tx))
			}
			want = m.SerializeSize()
		case *pb.MessageEvent_Compactblock:
			c := x.Compactblock
			want = 80 + 8 + varintLen(uint64(len(c.GetShortIds()))) + 6*len(c.GetShortIds()) + varintLen(uint64(len(c.GetTransactions())))
			for _, p := range c.GetTransactions() {
				want += varintLen(uint64(p.GetDiffIndex())) + checkTx(t, p.GetTx()).SerializeSize()
			}
			for _, id := range c.GetShortIds() {
				if len(id) != 6 {
					t.Fatalf("short id of %d bytes", len(id))
				}
			}
		case *pb.MessageEvent_Getblocktxn:
			g := x.Getblocktxn
			want = 32 + varintLen(uint64(len(g.GetTxIndexes())))
			for i, idx := range g.GetTxIndexes() {
				d := idx
				if i > 0 {
					d = idx - g.GetTxIndexes()[i-1] - 1
				}
				want += varintLen(d)
			}
		case *pb.MessageEvent_Blocktxn:
			want = 32 + varintLen(uint64(len(x.Blocktxn.GetTransactions())))
			for _, tx := range x.Blocktxn.GetTransactions() {
				want += checkTx(t, tx).SerializeSize()
			}
		case *pb.MessageEvent_Sendcompact:
			want = 9
		case *pb.MessageEvent_Unknown:
			want = len(x.Unknown.GetPayload())
			if x.Unknown.GetCommand() != cmd {
				t.Fatalf("unknown command %q in a %q message", x.Unknown.GetCommand(), cmd)
			}
		case *pb.MessageEvent_Verack, *pb.MessageEvent_Wtxidrelay, *pb.MessageEvent_Sendaddrv2, *pb.MessageEvent_Getaddr, *pb.MessageEvent_Sendheaders:
			want = 0
		default:
			t.Fatalf("unexpected message %s", cmd)
		}
		if uint64(want) != meta.GetSize() {
			t.Fatalf("%s: metadata size %d, payload serializes to %d", cmd, meta.GetSize(), want)
		}
		checked[cmd]++
	}
	for _, cmd := range []string{"tx", "inv", "addrv2", "addr", "version", "cmpctblock", "block", "headers", "getheaders"} {
		if checked[cmd] == 0 {
			t.Errorf("no %s checked", cmd)
		}
	}
	if s := sizes["tx"]; s[0] < 60 || s[1] < 600 {
		t.Errorf("tx sizes %d..%d bytes: want small and large ones", s[0], s[1])
	}
	t.Logf("checked %v", checked)
}

// Core renders a Tor v3 peer address with its checksum and version
// (56 characters), unlike peer-observer's addr entries (52).
func TestOnionRendering(t *testing.T) {
	r := newRNG(3, 1)
	for range 50 {
		a := randomAddr(r, netOnion)
		h := a.coreHost()
		if len(h) != 56+6 || !strings.HasSuffix(h, ".onion") {
			t.Fatalf("onion %q", h)
		}
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(strings.TrimSuffix(h, ".onion")))
		if err != nil || len(b) != 35 || b[34] != 3 || !bytes.Equal(b[:32], a.key[:]) {
			t.Fatalf("onion %q: %v", h, err)
		}
		sum := sha3.Sum256(append(append([]byte(".onion checksum"), b[:32]...), 3))
		if !bytes.Equal(sum[:2], b[32:34]) {
			t.Fatalf("onion %q: bad checksum", h)
		}
		if p := a.pbAddress(0).GetTorv3(); len(p) != 52+6 {
			t.Fatalf("addr entry %q", p)
		}
	}
	if hp := (&netAddr{net: netIPv6, ip: netip.MustParseAddr("2a01:4f8::1").As16()}).hostPort(8333); hp != "[2a01:4f8::1]:8333" {
		t.Fatalf("ipv6 %q", hp)
	}
	i2p := randomAddr(r, netI2P)
	if hp := i2p.hostPort(0); !strings.HasSuffix(hp, ".b32.i2p:0") || len(hp) != 52+10 {
		t.Fatalf("i2p %q", hp)
	}
}
