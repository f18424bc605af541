package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/extract/internal/wirepb"
	"github.com/peertape/peertape/proto/pb"
)

// pver is the protocol version P2P payloads are decoded at: the newest btcd
// knows, so that every optional field (ping nonces, witness data, fee
// filters, compact filters) is read.
const pver = wire.ProtocolVersion

// errTrailing is wrapped when a payload has bytes after the message.
var errTrailing = errors.New("trailing bytes after message")

// decodeMessage turns a P2P message payload into the MessageEvent oneof arm
// for command, the way peer-observer's extractor does with rust-bitcoin:
// every command rust-bitcoin models gets its own arm, any other command
// becomes Unknown with the raw payload, an empty addrv2 becomes emptyaddrv2
// and a ping without nonce oldping. It returns an error for a payload that
// does not parse as its command; the caller decides what to publish then.
// Byte slices in the result never alias payload.
func decodeMessage(command string, payload []byte) (*pb.MessageEvent, error) {
	switch command {
	case "ping":
		if len(payload) == 0 {
			return &pb.MessageEvent{Msg: &pb.MessageEvent_Oldping{Oldping: true}}, nil
		}
		var m wire.MsgPing
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Ping{Ping: &pb.Ping{Value: proto.Uint64(m.Nonce)}}}, nil
	case "pong":
		var m wire.MsgPong
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Pong{Pong: &pb.Pong{Value: proto.Uint64(m.Nonce)}}}, nil
	case "version":
		return decodeVersion(payload)
	case "verack":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Verack{Verack: true}}, nil
	case "sendheaders":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Sendheaders{Sendheaders: true}}, nil
	case "getaddr":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getaddr{Getaddr: true}}, nil
	case "mempool":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Mempool{Mempool: true}}, nil
	case "wtxidrelay":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Wtxidrelay{Wtxidrelay: true}}, nil
	case "sendaddrv2":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Sendaddrv2{Sendaddrv2: true}}, nil
	case "filterclear":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Filterclear{Filterclear: true}}, nil
	case "inv":
		var m wire.MsgInv
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: wirepb.InventoryItems(m.InvList)}}}, nil
	case "getdata":
		var m wire.MsgGetData
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getdata{Getdata: &pb.GetData{Items: wirepb.InventoryItems(m.InvList)}}}, nil
	case "notfound":
		var m wire.MsgNotFound
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Notfound{Notfound: &pb.NotFound{Items: wirepb.InventoryItems(m.InvList)}}}, nil
	case "tx":
		r := bytes.NewReader(payload)
		tx, err := readTx(r, payload)
		if err != nil {
			return nil, err
		}
		if err := end(r); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Tx{Tx: &pb.Tx{Tx: tx}}}, nil
	case "block":
		return decodeBlock(payload)
	case "headers":
		var m wire.MsgHeaders
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		hs := make([]*pb.BlockHeader, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = header(h)
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Headers{Headers: &pb.Headers{Headers: hs}}}, nil
	case "getheaders":
		var m wire.MsgGetHeaders
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getheaders{Getheaders: &pb.GetHeaders{Version: proto.Uint32(m.ProtocolVersion),
			LocatorHashes: hashList(m.BlockLocatorHashes), StopHash: hash(m.HashStop[:])}}}, nil
	case "getblocks":
		var m wire.MsgGetBlocks
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocks{Getblocks: &pb.GetBlocks{Version: proto.Uint32(m.ProtocolVersion),
			LocatorHashes: hashList(m.BlockLocatorHashes), StopHash: hash(m.HashStop[:])}}}, nil
	case "addr":
		addrs, err := decodeAddr(payload)
		if err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Addr{Addr: &pb.Addr{Addresses: addrs}}}, nil
	case "addrv2":
		if len(payload) == 0 {
			return &pb.MessageEvent{Msg: &pb.MessageEvent_Emptyaddrv2{Emptyaddrv2: true}}, nil
		}
		addrs, err := decodeAddrV2(payload)
		if err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Addrv2{Addrv2: &pb.AddrV2{Addresses: addrs}}}, nil
	case "feefilter":
		var m wire.MsgFeeFilter
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(m.MinFee)}}}, nil
	case "sendcmpct":
		if len(payload) < 9 {
			return nil, fmt.Errorf("sendcmpct: %d bytes, want 9: %w", len(payload), io.ErrUnexpectedEOF)
		}
		if len(payload) > 9 {
			return nil, errTrailing
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Sendcompact{Sendcompact: &pb.SendCompact{SendCompact: proto.Bool(payload[0] != 0),
			Version: proto.Uint64(binary.LittleEndian.Uint64(payload[1:]))}}}, nil
	case "cmpctblock":
		return decodeCompactBlock(payload)
	case "getblocktxn":
		return decodeGetBlockTxn(payload)
	case "blocktxn":
		return decodeBlockTxn(payload)
	case "alert":
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Alert{Alert: &pb.Alert{Alert: bytes.Clone(nonNil(payload))}}}, nil
	case "reject":
		return decodeReject(payload)
	case "filterload":
		var m wire.MsgFilterLoad
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		if m.Flags > wire.BloomUpdateP2PubkeyOnly {
			return nil, fmt.Errorf("filterload: unknown bloom flags %d", m.Flags)
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Filterload{Filterload: &pb.FilterLoad{Filter: bytes.Clone(nonNil(m.Filter)),
			HashFuncs: proto.Uint32(m.HashFuncs), Tweak: proto.Uint32(m.Tweak),
			Flags: pb.FilterLoad_BloomFlags(m.Flags).Enum()}}}, nil
	case "filteradd":
		var m wire.MsgFilterAdd
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Filteradd{Filteradd: &pb.FilterAdd{Filter: bytes.Clone(nonNil(m.Data))}}}, nil
	case "merkleblock":
		var m wire.MsgMerkleBlock
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		bits := make([]bool, 0, len(m.Flags)*8)
		for _, b := range m.Flags {
			for i := range 8 {
				bits = append(bits, b>>i&1 == 1)
			}
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Merkleblock{Merkleblock: &pb.MerkleBlock{Header: header(&m.Header),
			NumTransactions: proto.Uint32(m.Transactions), Bits: bits, Hashes: hashList(m.Hashes)}}}, nil
	case "getcfilters":
		var m wire.MsgGetCFilters
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfilter{Getcfilter: &pb.GetCFilter{FilterType: proto.Uint32(uint32(m.FilterType)),
			StartHeight: proto.Uint32(m.StartHeight), StopHash: hash(m.StopHash[:])}}}, nil
	case "cfilter":
		var m wire.MsgCFilter
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Cfilter{Cfilter: &pb.CFilter{FilterType: proto.Uint32(uint32(m.FilterType)),
			BlockHash: hash(m.BlockHash[:]), Filter: bytes.Clone(nonNil(m.Data))}}}, nil
	case "getcfheaders":
		var m wire.MsgGetCFHeaders
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfheaders{Getcfheaders: &pb.GetCFHeaders{FilterType: proto.Uint32(uint32(m.FilterType)),
			StartHeight: proto.Uint32(m.StartHeight), StopHash: hash(m.StopHash[:])}}}, nil
	case "cfheaders":
		var m wire.MsgCFHeaders
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Cfheaders{Cfheaders: &pb.CFHeaders{FilterType: proto.Uint32(uint32(m.FilterType)),
			StopHash: hash(m.StopHash[:]), PreviousFilterHeader: hash(m.PrevFilterHeader[:]),
			FilterHashes: hashList(m.FilterHashes)}}}, nil
	case "getcfcheckpt":
		var m wire.MsgGetCFCheckpt
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Getcfcheckpt{Getcfcheckpt: &pb.GetCFCheckpt{FilterType: proto.Uint32(uint32(m.FilterType)),
			StopHash: hash(m.StopHash[:])}}}, nil
	case "cfcheckpt":
		var m wire.MsgCFCheckpt
		if err := decodeWire(&m, payload); err != nil {
			return nil, err
		}
		return &pb.MessageEvent{Msg: &pb.MessageEvent_Cfcheckpt{Cfcheckpt: &pb.CFCheckpt{FilterType: proto.Uint32(uint32(m.FilterType)),
			StopHash: hash(m.StopHash[:]), FilterHeaders: hashList(m.FilterHeaders)}}}, nil
	}
	return unknownMessage(command, payload), nil
}

// unknownMessage is the arm for commands without their own.
func unknownMessage(command string, payload []byte) *pb.MessageEvent {
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String(command), Payload: bytes.Clone(nonNil(payload))}}}
}

// nonNil keeps required bytes fields present when empty: proto2 encodes a
// nil required bytes field as missing.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// decodeWire decodes a btcd message and insists on the whole payload.
func decodeWire(m interface {
	BtcDecode(io.Reader, uint32, wire.MessageEncoding) error
}, payload []byte) error {
	r := bytes.NewReader(payload)
	if err := m.BtcDecode(r, pver, wire.WitnessEncoding); err != nil {
		return err
	}
	return end(r)
}

func end(r *bytes.Reader) error {
	if r.Len() != 0 {
		return fmt.Errorf("%w (%d)", errTrailing, r.Len())
	}
	return nil
}

func hash(h []byte) []byte { return bytes.Clone(h) }

func hashList[H ~[32]byte](hs []*H) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		a := [32]byte(*h)
		out[i] = a[:]
	}
	return out
}

func header(h *wire.BlockHeader) *pb.BlockHeader {
	bh := h.BlockHash()
	return &pb.BlockHeader{
		Version:       proto.Int32(h.Version),
		PrevBlockhash: hash(h.PrevBlock[:]),
		MerkleRoot:    hash(h.MerkleRoot[:]),
		Time:          proto.Uint32(uint32(h.Timestamp.Unix())),
		Bits:          proto.Uint32(h.Bits),
		Nonce:         proto.Uint32(h.Nonce),
		Hash:          hash(bh[:]),
	}
}

// readTx decodes one transaction at r's position; all is the buffer r
// reads, so the transaction's exact bytes become Transaction.raw.
func readTx(r *bytes.Reader, all []byte) (*pb.Transaction, error) {
	start := len(all) - r.Len()
	var tx wire.MsgTx
	if err := tx.BtcDecode(r, pver, wire.WitnessEncoding); err != nil {
		return nil, fmt.Errorf("transaction at byte %d: %w", start, err)
	}
	raw := bytes.Clone(all[start : len(all)-r.Len()])
	// Hash the bytes just parsed rather than re-serializing: btcd accepts
	// only canonical encodings, so without the segwit marker they are
	// the txid serialization, and with marker and witnesses the wtxid
	// one. Only a segwit transaction needs its stripped form re-made.
	txid := chainhash.DoubleHashB(raw)
	wtxid := txid
	if len(raw) > 5 && raw[4] == 0 && raw[5] == 1 { // marker and flag after the version
		if !tx.HasWitness() {
			// Core and rust-bitcoin refuse this; btcd would accept it.
			return nil, fmt.Errorf("transaction at byte %d: superfluous witness record", start)
		}
		h := tx.TxHash()
		txid = h[:]
	}
	return &pb.Transaction{Txid: txid, Wtxid: wtxid, Raw: raw}, nil
}

func readTxs(r *bytes.Reader, all []byte, n uint64) ([]*pb.Transaction, error) {
	// Every transaction takes at least 10 bytes: bound the allocation by
	// what the payload can hold.
	if n > uint64(r.Len())/10 {
		return nil, fmt.Errorf("%d transactions cannot fit in %d bytes", n, r.Len())
	}
	txs := make([]*pb.Transaction, 0, n)
	for range n {
		tx, err := readTx(r, all)
		if err != nil {
			return nil, err
		}
		txs = append(txs, tx)
	}
	return txs, nil
}

func decodeBlock(payload []byte) (*pb.MessageEvent, error) {
	r := bytes.NewReader(payload)
	var h wire.BlockHeader
	if err := h.Deserialize(r); err != nil {
		return nil, fmt.Errorf("block header: %w", err)
	}
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("block transaction count: %w", err)
	}
	txs, err := readTxs(r, payload, n)
	if err != nil {
		return nil, err
	}
	if err := end(r); err != nil {
		return nil, err
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Block{Block: &pb.Block{Header: header(&h), Transactions: txs}}}, nil
}

func decodeVersion(payload []byte) (*pb.MessageEvent, error) {
	var m wire.MsgVersion
	// btcd reads the optional trailing fields only from a *bytes.Buffer.
	if err := m.BtcDecode(bytes.NewBuffer(payload), pver, wire.BaseEncoding); err != nil {
		return nil, err
	}
	addr := func(na *wire.NetAddress) *pb.Address {
		var ip [16]byte
		copy(ip[:], na.IP.To16())
		return wirepb.LegacyAddress(0, uint64(na.Services), ip, na.Port)
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Version{Version: &pb.Version{
		Version:     proto.Uint32(uint32(m.ProtocolVersion)),
		Services:    proto.Uint64(uint64(m.Services)),
		Timestamp:   proto.Int64(m.Timestamp.Unix()),
		Receiver:    addr(&m.AddrYou),
		Sender:      addr(&m.AddrMe),
		Nonce:       proto.Uint64(m.Nonce),
		UserAgent:   proto.String(m.UserAgent),
		StartHeight: proto.Int32(m.LastBlock),
		Relay:       proto.Bool(!m.DisableRelayTx),
	}}}, nil
}

func decodeCompactBlock(payload []byte) (*pb.MessageEvent, error) {
	r := bytes.NewReader(payload)
	var h wire.BlockHeader
	if err := h.Deserialize(r); err != nil {
		return nil, fmt.Errorf("cmpctblock header: %w", err)
	}
	var nonce [8]byte
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return nil, fmt.Errorf("cmpctblock nonce: %w", err)
	}
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("cmpctblock short id count: %w", err)
	}
	if n > uint64(r.Len())/6 {
		return nil, fmt.Errorf("cmpctblock: %d short ids cannot fit in %d bytes", n, r.Len())
	}
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = make([]byte, 6)
		if _, err := io.ReadFull(r, ids[i]); err != nil {
			return nil, err
		}
	}
	np, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("cmpctblock prefilled count: %w", err)
	}
	if np > uint64(r.Len())/11 {
		return nil, fmt.Errorf("cmpctblock: %d prefilled transactions cannot fit in %d bytes", np, r.Len())
	}
	pre := make([]*pb.PrefilledTransaction, 0, np)
	for range np {
		idx, err := wire.ReadVarInt(r, pver)
		if err != nil {
			return nil, fmt.Errorf("cmpctblock prefilled index: %w", err)
		}
		if idx > 0xffff {
			// Core refuses differential indexes above 16 bits.
			return nil, fmt.Errorf("cmpctblock prefilled index %d out of range", idx)
		}
		tx, err := readTx(r, payload)
		if err != nil {
			return nil, err
		}
		pre = append(pre, &pb.PrefilledTransaction{DiffIndex: proto.Uint32(uint32(idx)), Tx: tx})
	}
	if err := end(r); err != nil {
		return nil, err
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Compactblock{Compactblock: &pb.CompactBlock{Header: header(&h),
		Nonce: proto.Uint64(binary.LittleEndian.Uint64(nonce[:])), ShortIds: ids, Transactions: pre}}}, nil
}

func decodeGetBlockTxn(payload []byte) (*pb.MessageEvent, error) {
	r := bytes.NewReader(payload)
	bh := make([]byte, 32)
	if _, err := io.ReadFull(r, bh); err != nil {
		return nil, fmt.Errorf("getblocktxn block hash: %w", err)
	}
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("getblocktxn index count: %w", err)
	}
	if n > uint64(r.Len()) {
		return nil, fmt.Errorf("getblocktxn: %d indexes cannot fit in %d bytes", n, r.Len())
	}
	idx := make([]uint64, n)
	var last uint64
	for i := range idx {
		d, err := wire.ReadVarInt(r, pver)
		if err != nil {
			return nil, fmt.Errorf("getblocktxn index %d: %w", i, err)
		}
		// BIP152 differential encoding: each index is the previous one
		// plus the value plus one. Core refuses indexes above 16 bits.
		v := d
		if i > 0 {
			v = last + d + 1
		}
		if d > 0xffff || v > 0xffff {
			return nil, fmt.Errorf("getblocktxn index %d overflows 16 bits", i)
		}
		idx[i], last = v, v
	}
	if err := end(r); err != nil {
		return nil, err
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Getblocktxn{Getblocktxn: &pb.GetBlockTxn{BlockHash: bh, TxIndexes: idx}}}, nil
}

func decodeBlockTxn(payload []byte) (*pb.MessageEvent, error) {
	r := bytes.NewReader(payload)
	bh := make([]byte, 32)
	if _, err := io.ReadFull(r, bh); err != nil {
		return nil, fmt.Errorf("blocktxn block hash: %w", err)
	}
	n, err := wire.ReadVarInt(r, pver)
	if err != nil {
		return nil, fmt.Errorf("blocktxn transaction count: %w", err)
	}
	txs, err := readTxs(r, payload, n)
	if err != nil {
		return nil, err
	}
	if err := end(r); err != nil {
		return nil, err
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Blocktxn{Blocktxn: &pb.BlockTxn{BlockHash: bh, Transactions: txs}}}, nil
}

var rejectCodes = map[wire.RejectCode]pb.Reject_RejectReason{
	wire.RejectMalformed:       pb.Reject_MALFORMED,
	wire.RejectInvalid:         pb.Reject_INVALID,
	wire.RejectObsolete:        pb.Reject_OBSOLETE,
	wire.RejectDuplicate:       pb.Reject_DUPLICATE,
	wire.RejectNonstandard:     pb.Reject_NONSTANDARD,
	wire.RejectDust:            pb.Reject_DUST,
	wire.RejectInsufficientFee: pb.Reject_FEE,
	wire.RejectCheckpoint:      pb.Reject_CHECKPOINT,
}

func decodeReject(payload []byte) (*pb.MessageEvent, error) {
	var m wire.MsgReject
	if err := decodeWire(&m, payload); err != nil {
		return nil, err
	}
	code, ok := rejectCodes[m.Code]
	if !ok {
		return nil, fmt.Errorf("reject: unknown code %#x", uint8(m.Code))
	}
	var h []byte
	// The hash is only on the wire for rejected blocks and transactions.
	if m.Cmd == wire.CmdBlock || m.Cmd == wire.CmdTx {
		h = hash(m.Hash[:])
	}
	return &pb.MessageEvent{Msg: &pb.MessageEvent_Reject{Reject: &pb.Reject{RejectedCommand: proto.String(m.Cmd), Reason: code.Enum(),
		ReasonDetails: proto.String(m.Reason), Hash: nonNil(h)}}}, nil
}
