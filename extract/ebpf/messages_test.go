package ebpf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// The expectations below are written from the values the payloads are
// built from and from independent facts (the genesis block's published
// hashes, hashes computed here with crypto/sha256, hand-computed base32),
// not from the decoder under test.

func sha256d(b []byte) []byte {
	h := sha256.Sum256(b)
	h = sha256.Sum256(h[:])
	return h[:]
}

// display turns explorer-order hex into internal byte order.
func display(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

func seq32(start byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func varint(n uint64) []byte {
	var buf bytes.Buffer
	wire.WriteVarInt(&buf, 0, n)
	return buf.Bytes()
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

func addr(ts uint32, services uint64, port uint32) *pb.Address {
	return &pb.Address{Timestamp: proto.Uint32(ts), Services: proto.Uint64(services), Port: proto.Uint32(port)}
}

func withIPv4(a *pb.Address, s string) *pb.Address { a.Address = &pb.Address_Ipv4{Ipv4: s}; return a }
func withIPv6(a *pb.Address, s string) *pb.Address { a.Address = &pb.Address_Ipv6{Ipv6: s}; return a }
func withTorV2(a *pb.Address, s string) *pb.Address {
	a.Address = &pb.Address_Torv2{Torv2: s}
	return a
}
func withTorV3(a *pb.Address, s string) *pb.Address {
	a.Address = &pb.Address_Torv3{Torv3: s}
	return a
}
func withI2P(a *pb.Address, s string) *pb.Address { a.Address = &pb.Address_I2P{I2P: s}; return a }
func withCJDNS(a *pb.Address, s string) *pb.Address {
	a.Address = &pb.Address_Cjdns{Cjdns: s}
	return a
}
func withUnknown(a *pb.Address, id uint32, b []byte) *pb.Address {
	a.Address = &pb.Address_Unknown{Unknown: &pb.UnknownAddress{Id: proto.Uint32(id), Address: b}}
	return a
}

// genesis facts, as published.
const (
	genesisHash   = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
	genesisMerkle = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
)

func genesisHeader(t testing.TB) *pb.BlockHeader {
	return &pb.BlockHeader{Version: proto.Int32(1), PrevBlockhash: make([]byte, 32), MerkleRoot: display(t, genesisMerkle),
		Time: proto.Uint32(1231006505), Bits: proto.Uint32(0x1d00ffff), Nonce: proto.Uint32(2083236893), Hash: display(t, genesisHash)}
}

func genesisBytes(t testing.TB) (block, header, coinbase []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := chaincfg.MainNetParams.GenesisBlock.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return b, b[:80], b[81:]
}

func genesisTx(t testing.TB) *pb.Transaction {
	_, _, cb := genesisBytes(t)
	return &pb.Transaction{Txid: display(t, genesisMerkle), Wtxid: display(t, genesisMerkle), Raw: cb}
}

// segwitTx is a version-2 transaction with witness data.
func segwitTx(t testing.TB) (raw []byte, want *pb.Transaction) {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(seq32(7)), Index: 1},
		Sequence: 0xfffffffd, Witness: wire.TxWitness{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{0x02}, 33)}})
	tx.AddTxOut(&wire.TxOut{Value: 50_000, PkScript: append([]byte{0x00, 0x14}, seq32(3)[:20]...)})
	tx.LockTime = 800_000
	var full, stripped bytes.Buffer
	if err := tx.Serialize(&full); err != nil {
		t.Fatal(err)
	}
	if err := tx.SerializeNoWitness(&stripped); err != nil {
		t.Fatal(err)
	}
	raw = full.Bytes()
	return raw, &pb.Transaction{Txid: sha256d(stripped.Bytes()), Wtxid: sha256d(raw), Raw: raw}
}

// legacyTx is a transaction without witness, sized by script.
func legacyTx(t testing.TB, i int, script int) []byte {
	t.Helper()
	tx := wire.NewMsgTx(1)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(seq32(byte(i))), Index: uint32(i)},
		SignatureScript: bytes.Repeat([]byte{byte(i)}, script), Sequence: 0xffffffff})
	tx.AddTxOut(&wire.TxOut{Value: int64(i), PkScript: []byte{0x51}})
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigBlock builds a block of at least size bytes and its expected arm.
func bigBlock(t testing.TB, size int) ([]byte, *pb.MessageEvent) {
	t.Helper()
	h := wire.BlockHeader{Version: 0x20000000, PrevBlock: chainhash.Hash(seq32(1)), MerkleRoot: chainhash.Hash(seq32(2)),
		Timestamp: time.Unix(1_700_000_000, 0), Bits: 0x17034219, Nonce: 12345}
	var hb bytes.Buffer
	h.Serialize(&hb)
	want := &pb.Block{Header: &pb.BlockHeader{Version: proto.Int32(0x20000000), PrevBlockhash: seq32(1), MerkleRoot: seq32(2),
		Time: proto.Uint32(1_700_000_000), Bits: proto.Uint32(0x17034219), Nonce: proto.Uint32(12345), Hash: sha256d(hb.Bytes())}}
	var txs [][]byte
	total := 80 + 3
	for i := 0; total < size; i++ {
		raw := legacyTx(t, i, 200)
		txs = append(txs, raw)
		total += len(raw)
		want.Transactions = append(want.Transactions, &pb.Transaction{Txid: sha256d(raw), Wtxid: sha256d(raw), Raw: raw})
	}
	payload := cat(hb.Bytes(), varint(uint64(len(txs))), bytes.Join(txs, nil))
	return payload, &pb.MessageEvent{Msg: &pb.MessageEvent_Block{Block: want}}
}

type msgCase struct {
	name      string
	command   string
	payload   []byte
	want      *pb.MessageEvent // the oneof arm; Meta is the caller's
	decodeErr bool             // payload does not parse: Unknown + decode error
}

func messageCases(t testing.TB) []msgCase {
	t.Helper()
	genesis, genesisHdr, coinbase := genesisBytes(t)
	segwit, segwitWant := segwitTx(t)

	var version bytes.Buffer
	v := wire.NewMsgVersion(
		wire.NewNetAddressIPPort(net.ParseIP("2001:db8::1"), 18444, wire.SFNodeNetwork|wire.SFNodeWitness),
		wire.NewNetAddressIPPort(net.ParseIP("1.2.3.4"), 8333, wire.SFNodeNetwork),
		0x1122334455667788, 880_000)
	v.ProtocolVersion = 70016
	v.Services = wire.SFNodeNetwork | wire.SFNodeWitness | wire.SFNodeNetworkLimited
	v.Timestamp = time.Unix(1_700_000_123, 0)
	v.UserAgent = "/Satoshi:29.0.0/"
	if err := v.BtcEncode(&version, 70016, wire.BaseEncoding); err != nil {
		t.Fatal(err)
	}

	inv := cat(varint(8),
		le32(5), seq32(10), le32(1), seq32(11), le32(2), seq32(12), le32(0x40000001), seq32(13),
		le32(0x40000002), seq32(14), le32(4), seq32(15), le32(3), seq32(16), le32(0), seq32(17))
	invWant := []*pb.InventoryItem{
		{Item: &pb.InventoryItem_Wtx{Wtx: seq32(10)}},
		{Item: &pb.InventoryItem_Transaction{Transaction: seq32(11)}},
		{Item: &pb.InventoryItem_Block{Block: seq32(12)}},
		{Item: &pb.InventoryItem_WitnessTransaction{WitnessTransaction: seq32(13)}},
		{Item: &pb.InventoryItem_WitnessBlock{WitnessBlock: seq32(14)}},
		{Item: &pb.InventoryItem_CompactBlock{CompactBlock: seq32(15)}},
		{Item: &pb.InventoryItem_Unknown{Unknown: &pb.UnknownItem{InvType: proto.Uint32(3), Hash: seq32(16)}}},
		{Item: &pb.InventoryItem_Error{Error: true}},
	}

	onion := []byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43, 0xed, 0xb1, 0x08, 0xe4, 0x35, 0x88, 0xe5, 0x46, 0x35, 0xca}
	mapped := append(make([]byte, 10), 0xff, 0xff, 198, 51, 100, 7)
	compat := append(make([]byte, 12), 10, 0, 0, 1)
	v6 := net.ParseIP("2001:db8:0:0:1:0:0:1").To16()
	addrPayload := cat(varint(4),
		le32(1_700_000_001), le64(1033), mapped, be16(8333),
		le32(1_700_000_002), le64(9), v6, be16(18333),
		le32(1_700_000_003), le64(0), onion, be16(9050),
		le32(1_700_000_004), le64(1), compat, be16(1))
	addrWant := []*pb.Address{
		withIPv4(addr(1_700_000_001, 1033, 8333), "198.51.100.7"),
		withIPv6(addr(1_700_000_002, 9, 18333), "2001:db8::1:0:0:1"),
		withTorV2(addr(1_700_000_003, 0, 9050), "5wyqrzbvrdsumnok.onion"),
		withIPv4(addr(1_700_000_004, 1, 1), "10.0.0.1"),
	}

	cjdns := net.ParseIP("fc00::1").To16()
	entry := func(ts uint32, services uint64, netID byte, a []byte, port uint16) []byte {
		return cat(le32(ts), varint(services), []byte{netID}, varint(uint64(len(a))), a, be16(port))
	}
	addrv2Payload := cat(varint(9),
		entry(1, 1, 1, []byte{192, 0, 2, 1}, 8333),
		entry(2, 1<<24, 2, v6, 8333),
		entry(3, 0, 3, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 9050),
		entry(4, 3081, 4, seq32(0), 8333),
		entry(5, 0, 5, seq32(100), 0),
		entry(6, 0, 6, cjdns, 8333),
		entry(7, 0, 42, []byte{9, 9, 9, 9, 9}, 1),
		entry(8, 0, 2, mapped, 2),
		entry(9, 0, 1, []byte{1, 2, 3, 4, 5}, 3))
	addrv2Want := []*pb.Address{
		withIPv4(addr(1, 1, 8333), "192.0.2.1"),
		withIPv6(addr(2, 1<<24, 8333), "2001:db8::1:0:0:1"),
		withTorV2(addr(3, 0, 9050), "aebagbafaydqqcik.onion"),
		withTorV3(addr(4, 3081, 8333), "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq.onion"),
		withI2P(addr(5, 0, 0), "mrswmz3infvgw3dnnzxxa4lson2hk5txpb4xu634pv7h7aebqkbq.b32.i2p"),
		withCJDNS(addr(6, 0, 8333), "fc00::1"),
		withUnknown(addr(7, 0, 1), 42, []byte{9, 9, 9, 9, 9}),
		withUnknown(addr(8, 0, 2), 2, mapped),
		withUnknown(addr(9, 0, 3), 1, []byte{1, 2, 3, 4, 5}),
	}

	h2 := wire.BlockHeader{Version: 0x20000004, PrevBlock: chainhash.Hash(display(t, genesisHash)), MerkleRoot: chainhash.Hash(seq32(40)),
		Timestamp: time.Unix(1231469665, 0), Bits: 0x1d00ffff, Nonce: 7}
	var h2b bytes.Buffer
	h2.Serialize(&h2b)
	h2Want := &pb.BlockHeader{Version: proto.Int32(0x20000004), PrevBlockhash: display(t, genesisHash), MerkleRoot: seq32(40),
		Time: proto.Uint32(1231469665), Bits: proto.Uint32(0x1d00ffff), Nonce: proto.Uint32(7), Hash: sha256d(h2b.Bytes())}

	cmpct := cat(genesisHdr, le64(0xdeadbeefcafef00d), varint(2), []byte{1, 2, 3, 4, 5, 6}, []byte{6, 5, 4, 3, 2, 1},
		varint(1), varint(0), coinbase)
	rejectPayload := cat(varint(2), []byte("tx"), []byte{0x42}, varint(16), []byte("insufficient fee"), seq32(50))
	// A segwit marker and flag, but every witness empty.
	superfluousWitness := cat(le32(2), []byte{0, 1}, varint(1), seq32(90), le32(0), varint(0), le32(0xffffffff),
		varint(1), le64(1000), varint(1), []byte{0x51}, varint(0), le32(0))
	merkle := cat(genesisHdr, le32(7), varint(2), seq32(60), seq32(61), varint(1), []byte{0x1d})

	return []msgCase{
		{name: "version", command: "version", payload: version.Bytes(), want: &pb.MessageEvent{Msg: &pb.MessageEvent_Version{Version: &pb.Version{
			Version: proto.Uint32(70016), Services: proto.Uint64(uint64(wire.SFNodeNetwork | wire.SFNodeWitness | wire.SFNodeNetworkLimited)),
			Timestamp: proto.Int64(1_700_000_123),
			Receiver:  withIPv4(addr(0, uint64(wire.SFNodeNetwork), 8333), "1.2.3.4"),
			Sender:    withIPv6(addr(0, uint64(wire.SFNodeNetwork|wire.SFNodeWitness), 18444), "2001:db8::1"),
			Nonce:     proto.Uint64(0x1122334455667788), UserAgent: proto.String("/Satoshi:29.0.0/"),
			StartHeight: proto.Int32(880_000), Relay: proto.Bool(true)}}}},
		{name: "verack", command: "verack", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Verack{Verack: true}}},
		{name: "ping", command: "ping", payload: le64(0x0102030405060708), want: &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(0x0102030405060708)}}}},
		{name: "oldping", command: "ping", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Oldping{Oldping: true}}},
		{name: "pong", command: "pong", payload: le64(0xfffffffffffffffe), want: &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(0xfffffffffffffffe)}}}},
		{name: "inv", command: "inv", payload: inv, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: invWant}}}},
		{name: "getdata", command: "getdata", payload: cat(varint(1), le32(0x40000001), seq32(20)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_WitnessTransaction{WitnessTransaction: seq32(20)}}}}}}},
		{name: "notfound", command: "notfound", payload: cat(varint(1), le32(1), seq32(21)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Notfound{Notfound: &pb.NotFound{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Transaction{Transaction: seq32(21)}}}}}}},
		{name: "tx", command: "tx", payload: segwit, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: segwitWant}}}},
		{name: "block", command: "block", payload: genesis, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Block{Block: &pb.Block{
			Header: genesisHeader(t), Transactions: []*pb.Transaction{genesisTx(t)}}}}},
		{name: "headers", command: "headers", payload: cat(varint(2), genesisHdr, []byte{0}, h2b.Bytes(), []byte{0}),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: []*pb.BlockHeader{genesisHeader(t), h2Want}}}}},
		{name: "getheaders", command: "getheaders", payload: cat(le32(70016), varint(2), seq32(30), seq32(31), make([]byte, 32)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getheaders{Getheaders: &pb.GetHeaders{Version: proto.Uint32(70016),
				LocatorHashes: [][]byte{seq32(30), seq32(31)}, StopHash: make([]byte, 32)}}}},
		{name: "getblocks", command: "getblocks", payload: cat(le32(70015), varint(1), seq32(32), seq32(33)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocks{Getblocks: &pb.GetBlocks{Version: proto.Uint32(70015),
				LocatorHashes: [][]byte{seq32(32)}, StopHash: seq32(33)}}}},
		{name: "addr", command: "addr", payload: addrPayload, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: addrWant}}}},
		{name: "addrv2", command: "addrv2", payload: addrv2Payload, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: addrv2Want}}}},
		{name: "addrv2-count-zero", command: "addrv2", payload: []byte{0}, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{}}}},
		{name: "emptyaddrv2", command: "addrv2", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Emptyaddrv2{Emptyaddrv2: true}}},
		{name: "sendcmpct", command: "sendcmpct", payload: cat([]byte{1}, le64(2)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Sendcompact{Sendcompact: &pb.SendCompact{SendCompact: proto.Bool(true), Version: proto.Uint64(2)}}}},
		{name: "cmpctblock", command: "cmpctblock", payload: cmpct, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Compactblock{Compactblock: &pb.CompactBlock{
			Header: genesisHeader(t), Nonce: proto.Uint64(0xdeadbeefcafef00d),
			ShortIds:     [][]byte{{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}},
			Transactions: []*pb.PrefilledTransaction{{DiffIndex: proto.Uint32(0), Tx: genesisTx(t)}}}}}},
		{name: "getblocktxn", command: "getblocktxn", payload: cat(seq32(34), varint(3), varint(0), varint(2), varint(0)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocktxn{Getblocktxn: &pb.GetBlockTxn{BlockHash: seq32(34), TxIndexes: []uint64{0, 3, 4}}}}},
		{name: "blocktxn", command: "blocktxn", payload: cat(seq32(35), varint(1), segwit),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Blocktxn{Blocktxn: &pb.BlockTxn{BlockHash: seq32(35), Transactions: []*pb.Transaction{segwitWant}}}}},
		{name: "feefilter", command: "feefilter", payload: le64(1000), want: &pb.MessageEvent{Msg: &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(1000)}}}},
		{name: "sendheaders", command: "sendheaders", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Sendheaders{Sendheaders: true}}},
		{name: "getaddr", command: "getaddr", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getaddr{Getaddr: true}}},
		{name: "mempool", command: "mempool", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Mempool{Mempool: true}}},
		{name: "wtxidrelay", command: "wtxidrelay", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Wtxidrelay{Wtxidrelay: true}}},
		{name: "sendaddrv2", command: "sendaddrv2", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Sendaddrv2{Sendaddrv2: true}}},
		{name: "filterclear", command: "filterclear", want: &pb.MessageEvent{Msg: &pb.MessageEvent_Filterclear{Filterclear: true}}},
		{name: "filterload", command: "filterload", payload: cat(varint(3), []byte{7, 8, 9}, le32(11), le32(0xabcdef), []byte{2}),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Filterload{Filterload: &pb.FilterLoad{Filter: []byte{7, 8, 9},
				HashFuncs: proto.Uint32(11), Tweak: proto.Uint32(0xabcdef), Flags: pb.FilterLoad_PubkeyOnly.Enum()}}}},
		{name: "filteradd", command: "filteradd", payload: cat(varint(2), []byte{5, 6}),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Filteradd{Filteradd: &pb.FilterAdd{Filter: []byte{5, 6}}}}},
		{name: "merkleblock", command: "merkleblock", payload: merkle, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Merkleblock{Merkleblock: &pb.MerkleBlock{
			Header: genesisHeader(t), NumTransactions: proto.Uint32(7),
			Bits: []bool{true, false, true, true, true, false, false, false}, Hashes: [][]byte{seq32(60), seq32(61)}}}}},
		{name: "reject", command: "reject", payload: rejectPayload, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Reject{Reject: &pb.Reject{
			RejectedCommand: proto.String("tx"), Reason: pb.Reject_FEE.Enum(), ReasonDetails: proto.String("insufficient fee"), Hash: seq32(50)}}}},
		{name: "alert", command: "alert", payload: []byte{1, 2, 3}, want: &pb.MessageEvent{Msg: &pb.MessageEvent_Alert{Alert: &pb.Alert{Alert: []byte{1, 2, 3}}}}},
		// 12-character commands: peer-observer's 12-byte buffer cuts them.
		{name: "getcfcheckpt", command: "getcfcheckpt", payload: cat([]byte{0}, seq32(70)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfcheckpt{Getcfcheckpt: &pb.GetCFCheckpt{FilterType: proto.Uint32(0), StopHash: seq32(70)}}}},
		{name: "getcfheaders", command: "getcfheaders", payload: cat([]byte{0}, le32(100), seq32(71)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfheaders{Getcfheaders: &pb.GetCFHeaders{FilterType: proto.Uint32(0),
				StartHeight: proto.Uint32(100), StopHash: seq32(71)}}}},
		{name: "cfcheckpt", command: "cfcheckpt", payload: cat([]byte{0}, seq32(72), varint(1), seq32(73)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Cfcheckpt{Cfcheckpt: &pb.CFCheckpt{FilterType: proto.Uint32(0), StopHash: seq32(72),
				FilterHeaders: [][]byte{seq32(73)}}}}},
		{name: "cfheaders", command: "cfheaders", payload: cat([]byte{0}, seq32(74), seq32(75), varint(1), seq32(76)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Cfheaders{Cfheaders: &pb.CFHeaders{FilterType: proto.Uint32(0), StopHash: seq32(74),
				PreviousFilterHeader: seq32(75), FilterHashes: [][]byte{seq32(76)}}}}},
		{name: "getcfilters", command: "getcfilters", payload: cat([]byte{0}, le32(5), seq32(77)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfilter{Getcfilter: &pb.GetCFilter{FilterType: proto.Uint32(0),
				StartHeight: proto.Uint32(5), StopHash: seq32(77)}}}},
		{name: "cfilter", command: "cfilter", payload: cat([]byte{0}, seq32(78), varint(3), []byte{1, 2, 3}),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Cfilter{Cfilter: &pb.CFilter{FilterType: proto.Uint32(0), BlockHash: seq32(78), Filter: []byte{1, 2, 3}}}}},
		{name: "unknown", command: "sendtxrcncl", payload: cat(le32(1), le64(42)),
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("sendtxrcncl"), Payload: cat(le32(1), le64(42))}}}},
		{name: "malformed-tx", command: "tx", payload: []byte{1, 0, 0}, decodeErr: true,
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("tx"), Payload: []byte{1, 0, 0}}}}},
		{name: "superfluous-witness", command: "tx", payload: superfluousWitness, decodeErr: true,
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("tx"), Payload: superfluousWitness}}}},
		{name: "trailing-ping", command: "ping", payload: cat(le64(1), []byte{0}), decodeErr: true,
			want: &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("ping"), Payload: cat(le64(1), []byte{0})}}}},
	}
}

// TestDecodeMessage checks every message type against its expected arm.
func TestDecodeMessage(t *testing.T) {
	for _, tc := range messageCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := proto.Clone(tc.want)
			payload := bytes.Clone(tc.payload)
			got, err := decodeMessage(tc.command, payload)
			if tc.decodeErr {
				if err == nil {
					t.Fatalf("decoded malformed payload as %v", got)
				}
				got = unknownMessage(tc.command, payload)
			} else if err != nil {
				t.Fatal(err)
			}
			// The event must not alias the payload: the ring buffer
			// record it came from is reused for the next one.
			for i := range payload {
				payload[i] ^= 0xff
			}
			if !proto.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestDecodeBigBlock(t *testing.T) {
	payload, want := bigBlock(t, 3_000_000)
	if len(payload) < 3_000_000 || len(payload) > 4_000_000 {
		t.Fatalf("test block of %d bytes", len(payload))
	}
	got, err := decodeMessage("block", payload)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("3 MB block decoded differently (%d transactions, want %d)",
			len(got.GetBlock().GetTransactions()), len(want.GetBlock().GetTransactions()))
	}
}

func TestConnType(t *testing.T) {
	for in, want := range map[string]pb.ConnType{
		"inbound":             pb.ConnType_Inbound,
		"outbound-full-relay": pb.ConnType_OutboundFullRelay,
		"block-relay-only":    pb.ConnType_BlockRelayOnly,
		"feeler":              pb.ConnType_OutboundFullRelay, // peer-observer's quirk
		"manual":              pb.ConnType_Unknown,
		"addr-fetch":          pb.ConnType_Unknown,
		"private-broadcast":   pb.ConnType_Unknown,
		"":                    pb.ConnType_Unknown,
	} {
		if got := connType(in); got != want {
			t.Errorf("connType(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestEveryCommandCovered ties the command lists together: every command
// with its own arm has a test case, the fast path's list matches the
// decoder, and other commands become Unknown.
func TestEveryCommandCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range messageCases(t) {
		if !tc.decodeErr {
			covered[tc.command] = true
		}
	}
	for cmd := range knownCommands {
		if !covered[cmd] {
			t.Errorf("no test case decodes %q", cmd)
		}
		got, err := decodeMessage(cmd, nil)
		if err == nil && got.GetUnknown() != nil {
			t.Errorf("%q decodes to Unknown", cmd)
		}
	}
	for cmd := range covered {
		if !knownCommands[cmd] && cmd != "sendtxrcncl" {
			t.Errorf("test command %q missing from knownCommands", cmd)
		}
	}
	for _, cmd := range []string{"sendtxrcncl", "Ping", "", "getcfilter"} {
		if got, err := decodeMessage(cmd, []byte{1}); err != nil || got.GetUnknown().GetCommand() != cmd {
			t.Errorf("%q: %v %v, want Unknown", cmd, got, err)
		}
	}
}
