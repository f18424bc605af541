package event

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// MessageEvent oneof arms that carry raw transaction or block bytes.
const (
	msgTx           = 6
	msgCompactBlock = 16
	msgBlock        = 18
	msgBlockTxn     = 20
)

// StripLowData removes the bulk of a P2P message event exactly as
// peer-observer's archiver does in --low-data mode:
//
//   - tx: the transaction's raw bytes (txid, wtxid and metadata stay);
//   - block: the whole transaction list (the header, with the block hash, stays);
//   - blocktxn: each transaction's raw bytes (block hash, txids, wtxids stay);
//   - cmpctblock: the raw bytes of each prefilled transaction.
//
// meta.size (the original wire size) is kept, so size statistics still
// work. Every other event is returned unchanged, with the same Raw slice,
// and so is a message that has nothing to strip (changed is false).
//
// A stripped event is decoded and re-encoded: every field this build does
// not know (unknown fields, unknown oneof arms) survives, but the encoding
// of the rest may be normalized. Bytes that are not a well-formed event
// yield an error wrapping ErrMalformed and ev unchanged.
func StripLowData(ev Event) (out Event, changed bool, err error) {
	if ev.Kind != NetMsg || !mayCarryPayload(ev.Raw) {
		return ev, false, nil
	}
	msg := new(pb.Event)
	if err := ev.DecodeInto(msg); err != nil {
		return ev, false, err
	}
	m := msg.GetEbpfExtractor().GetMessage()
	if m == nil {
		return ev, false, nil
	}
	switch a := m.GetMsg().(type) {
	case *pb.MessageEvent_Tx:
		if t := a.Tx.GetTx(); t != nil && t.Raw != nil {
			t.Raw, changed = nil, true
		}
	case *pb.MessageEvent_Block:
		if a.Block != nil && len(a.Block.Transactions) > 0 {
			a.Block.Transactions, changed = nil, true
		}
	case *pb.MessageEvent_Blocktxn:
		for _, t := range a.Blocktxn.GetTransactions() {
			if t != nil && t.Raw != nil {
				t.Raw, changed = nil, true
			}
		}
	case *pb.MessageEvent_Compactblock:
		for _, p := range a.Compactblock.GetTransactions() {
			if t := p.GetTx(); t != nil && t.Raw != nil {
				t.Raw, changed = nil, true
			}
		}
	}
	if !changed {
		return ev, false, nil
	}
	// AllowPartial: an event from an extractor that left out a required
	// field is recorded as it came, like every other event.
	raw, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(msg)
	if err != nil {
		return ev, false, fmt.Errorf("low-data: re-encode event: %w", err)
	}
	out = ev
	out.Raw = raw
	return out, true, nil
}

// mayCarryPayload reports whether some MessageEvent inside raw has one of
// the arms low-data mode strips. It walks the wire bytes without decoding,
// so the common messages (inv, ping, addr ...) cost no allocation. False
// positives only cost a decode; there are no false negatives because every
// occurrence of the outer fields is inspected.
func mayCarryPayload(raw []byte) bool {
	var f, g, h field
	it := fieldIter{b: raw}
	for it.next(&f) {
		if f.num != eventEbpf || f.typ != protowire.BytesType {
			continue
		}
		eb := fieldIter{b: f.b}
		for eb.next(&g) {
			if g.num != ebpfMessage || g.typ != protowire.BytesType {
				continue
			}
			mi := fieldIter{b: g.b}
			for mi.next(&h) {
				switch h.num {
				case msgTx, msgCompactBlock, msgBlock, msgBlockTxn:
					return true
				}
			}
			if mi.err != nil {
				return true // let the decoder report it
			}
		}
		if eb.err != nil {
			return true
		}
	}
	return it.err != nil
}
