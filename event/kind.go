package event

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Kind is the coarse class of an event, following the event.Event oneof and,
// for the eBPF extractor, its inner oneof. Kinds name filters, counts and
// the NATS subject an event is published on.
type Kind uint8

// The kinds. Unknown covers events whose oneof arm this build does not know
// (a newer extractor) and events with no arm at all.
const (
	Unknown Kind = iota
	NetMsg
	NetConn
	Mempool
	Validation
	Addrman
	RPC
	P2P
	Log
	IPC
	numKinds
)

var kindNames = [numKinds]string{
	Unknown:    "unknown",
	NetMsg:     "netmsg",
	NetConn:    "netconn",
	Mempool:    "mempool",
	Validation: "validation",
	Addrman:    "addrman",
	RPC:        "rpc",
	P2P:        "p2p",
	Log:        "log",
	IPC:        "ipc",
}

// peer-observer's NATS subjects (single tokens, no dots).
var kindSubjects = [numKinds]string{
	NetMsg:     "netmsg",
	NetConn:    "netconn",
	Mempool:    "mempool",
	Validation: "validation",
	Addrman:    "addrman",
	RPC:        "rpc",
	P2P:        "p2p-extractor",
	Log:        "log-extractor",
	IPC:        "ipc",
}

// Kinds lists every kind in a stable order.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// String returns the kind's name as used in filters, counts and JSON.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Subject returns the NATS subject peer-observer publishes this kind on, or
// "" for Unknown: the original subject of an unknown event is not stored.
func (k Kind) Subject() string {
	if k < numKinds {
		return kindSubjects[k]
	}
	return ""
}

// ParseKind parses a kind name. It also accepts peer-observer's subject
// names ("p2p-extractor", "log-extractor").
func ParseKind(s string) (Kind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range kindNames {
		if s == n || (kindSubjects[i] != "" && s == kindSubjects[i]) {
			return Kind(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown event kind %q (want one of %s)", s, strings.Join(kindNames[:], ", "))
}

// KindForSubject maps a NATS subject to the kind peer-observer publishes on
// it, and reports whether the subject is one of peer-observer's.
func KindForSubject(subject string) (Kind, bool) {
	for i, s := range kindSubjects {
		if s != "" && s == subject {
			return Kind(i), true
		}
	}
	return Unknown, false
}

// Field numbers of the oneof arms the classifier looks at.
const (
	fieldTimestamp = 10

	eventEbpf = 1
	eventRPC  = 2
	eventP2P  = 3
	eventLog  = 4
	eventIPC  = 5

	ebpfMessage    = 1
	ebpfConnection = 2
	ebpfAddrman    = 3
	ebpfMempool    = 4
	ebpfValidation = 5

	messageMeta     = 1
	metadataCommand = 4
)

// Names of inner oneof arms, indexed by field number, for Event.Type.
var (
	connectionArms = []string{1: "closed", 2: "inbound_evicted", 3: "inbound", 4: "outbound", 5: "misbehaving"}
	mempoolArms    = []string{1: "added", 2: "replaced", 3: "removed", 4: "rejected"}
	validationArms = []string{1: "block_connected"}
	addrmanArms    = []string{1: "new", 2: "tried"}
	rpcArms        = []string{1: "peer_infos", 2: "mempool_info", 3: "uptime", 4: "net_totals", 5: "memory_info", 6: "addrman_info", 7: "chain_tx_stats", 8: "network_info", 9: "blockchain_info", 10: "orphan_txs", 11: "addrman"}
	p2pArms        = []string{1: "ping_duration", 2: "address_announcement", 3: "inventory_announcement", 4: "feefilter_announcement"}
	logArms        = []string{4: "unknown_log_message", 5: "block_connected_log", 6: "block_checked_log"}
	ipcArms        = []string{1: "block_tip"}
)

// field is one top-level field of a message, as fieldIter yields it.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint and fixed values
	b   []byte // length-delimited contents
}

// fieldIter walks the top-level fields of a message without allocating.
// Groups are skipped whole.
type fieldIter struct {
	b   []byte
	off int
	err error
}

func (it *fieldIter) next(f *field) bool {
	b := it.b
	if len(b) == 0 || it.err != nil {
		return false
	}
	// Fast path: one-byte tag, and a one-byte length or a varint that
	// fits the buffer — nearly every field of an event.
	if t := b[0]; t < 0x80 && t >= 0x08 {
		num, typ := protowire.Number(t>>3), protowire.Type(t&7)
		switch typ {
		case protowire.BytesType:
			if len(b) >= 2 && b[1] < 0x80 {
				l := int(b[1])
				if 2+l <= len(b) {
					f.num, f.typ, f.v, f.b = num, typ, 0, b[2:2+l:2+l]
					it.b = b[2+l:]
					it.off += 2 + l
					return true
				}
			}
		case protowire.VarintType:
			var v uint64
			for i := 1; i < len(b) && i <= 10; i++ {
				c := b[i]
				v |= uint64(c&0x7f) << (7 * (i - 1))
				if c < 0x80 {
					if i == 10 && c > 1 {
						break // overflow: let the slow path report it
					}
					f.num, f.typ, f.v, f.b = num, typ, v, nil
					it.b = b[i+1:]
					it.off += i + 1
					return true
				}
			}
		}
	}
	return it.slow(f)
}

func (it *fieldIter) slow(f *field) bool {
	num, typ, n := protowire.ConsumeTag(it.b)
	if n < 0 {
		it.err = fmt.Errorf("%w: bad tag at byte %d: %v", ErrMalformed, it.off, protowire.ParseError(n))
		return false
	}
	f.num, f.typ, f.v, f.b = num, typ, 0, nil
	m := 0
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(it.b[n:])
	case protowire.Fixed32Type:
		var x uint32
		x, m = protowire.ConsumeFixed32(it.b[n:])
		f.v = uint64(x)
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(it.b[n:])
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(it.b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, it.b[n:])
	}
	if m < 0 {
		it.err = fmt.Errorf("%w: field %d at byte %d: %v", ErrMalformed, num, it.off, protowire.ParseError(m))
		return false
	}
	it.b = it.b[n+m:]
	it.off += n + m
	return true
}

// classify fills ev.Time, ev.Kind and ev.Type from raw. It follows
// protobuf's rules for a oneof: the last arm seen wins, and repeated
// occurrences of a message arm merge (their encodings concatenate), so the
// classification always agrees with a full decode.
func classify(raw []byte, ev *Event) error {
	var inner []byte
	var outer protowire.Number
	var f field
	it := fieldIter{b: raw}
	for it.next(&f) {
		switch {
		case f.num == fieldTimestamp && f.typ == protowire.VarintType:
			ev.Time = int64(f.v)
		case f.num >= eventEbpf && f.num <= eventIPC && f.typ == protowire.BytesType:
			outer, inner = mergeArm(outer, inner, f.num, f.b)
		}
	}
	if it.err != nil {
		return it.err
	}
	var err error
	switch outer {
	case eventEbpf:
		return classifyEbpf(inner, ev)
	case eventRPC:
		ev.Kind = RPC
		ev.Type, err = lastArm(inner, rpcArms)
	case eventP2P:
		ev.Kind = P2P
		ev.Type, err = lastArm(inner, p2pArms)
	case eventLog:
		ev.Kind = Log
		ev.Type, err = lastArm(inner, logArms)
	case eventIPC:
		ev.Kind = IPC
		ev.Type, err = lastArm(inner, ipcArms)
	}
	return err
}

// mergeArm tracks the winning message arm of a oneof: a different arm
// replaces it, the same arm again merges into it.
func mergeArm(cur protowire.Number, curBytes []byte, num protowire.Number, b []byte) (protowire.Number, []byte) {
	if num != cur {
		return num, b
	}
	merged := make([]byte, 0, len(curBytes)+len(b))
	return num, append(append(merged, curBytes...), b...)
}

func classifyEbpf(b []byte, ev *Event) error {
	var inner []byte
	var arm protowire.Number
	var f field
	it := fieldIter{b: b}
	for it.next(&f) {
		if f.num >= ebpfMessage && f.num <= ebpfValidation && f.typ == protowire.BytesType {
			arm, inner = mergeArm(arm, inner, f.num, f.b)
		}
	}
	if it.err != nil {
		return it.err
	}
	var err error
	switch arm {
	case ebpfMessage:
		ev.Kind = NetMsg
		ev.Type, err = messageCommand(inner)
	case ebpfConnection:
		ev.Kind = NetConn
		ev.Type, err = lastArm(inner, connectionArms)
	case ebpfAddrman:
		ev.Kind = Addrman
		ev.Type, err = lastArm(inner, addrmanArms)
	case ebpfMempool:
		ev.Kind = Mempool
		ev.Type, err = lastArm(inner, mempoolArms)
	case ebpfValidation:
		ev.Kind = Validation
		ev.Type, err = lastArm(inner, validationArms)
	}
	return err
}

// messageCommand returns meta.command of a MessageEvent. Repeated meta
// fields merge; within them the last command wins.
func messageCommand(b []byte) (string, error) {
	var cmd []byte
	var f, g field
	it := fieldIter{b: b}
	for it.next(&f) {
		if f.num != messageMeta || f.typ != protowire.BytesType {
			continue
		}
		mt := fieldIter{b: f.b}
		for mt.next(&g) {
			if g.num == metadataCommand && g.typ == protowire.BytesType {
				cmd = g.b
			}
		}
		if mt.err != nil {
			return "", mt.err
		}
	}
	if it.err != nil {
		return "", it.err
	}
	return intern(cmd), nil
}

// lastArm returns the name of the last field in b that is one of arms.
func lastArm(b []byte, arms []string) (string, error) {
	name := ""
	var f field
	it := fieldIter{b: b}
	for it.next(&f) {
		if int(f.num) < len(arms) && arms[f.num] != "" {
			name = arms[f.num]
		}
	}
	return name, it.err
}

// commands interns the P2P message types so classifying a record does not
// allocate a string for the common ones.
var commands = func() map[string]string {
	m := map[string]string{}
	for _, c := range []string{
		"version", "verack", "addr", "addrv2", "sendaddrv2", "inv", "getdata", "merkleblock",
		"getblocks", "getheaders", "tx", "headers", "block", "getaddr", "mempool", "ping",
		"pong", "notfound", "filterload", "filteradd", "filterclear", "sendheaders", "feefilter",
		"sendcmpct", "cmpctblock", "getblocktxn", "blocktxn", "getcfilters", "cfilter",
		"getcfheaders", "cfheaders", "getcfcheckpt", "cfcheckpt", "wtxidrelay", "sendtxrcncl",
		"reject", "alert",
	} {
		m[c] = c
	}
	return m
}()

func intern(b []byte) string {
	if s, ok := commands[string(b)]; ok {
		return s
	}
	return string(b)
}
