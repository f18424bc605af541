package sanitize

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Options say what a Sanitizer does beyond replacing addresses. The zero
// value is the safe default: unknown payloads dropped, public data kept,
// ports kept, no time shift.
type Options struct {
	// DropKinds drops every event it matches (build it with
	// event.NewFilter(selectors, nil)). Nil or empty drops nothing.
	DropKinds *event.Filter
	// KeepUnknownPayloads keeps the raw payload of P2P messages of unknown
	// commands. By default it is replaced by an empty payload, since
	// peertape cannot know whether it hides addresses (the --check leak
	// scan still looks). Payloads of addr, addrv2 and version are always
	// parsed and rewritten, and dropped when they do not parse.
	KeepUnknownPayloads bool
	// DropPublicData removes raw transaction bytes and block transaction
	// lists, as peer-observer's low-data mode does. By default they are
	// kept: they are public anyway.
	DropPublicData bool
	// ScrubPorts sets every port to 0.
	ScrubPorts bool
	// TimeShift moves every absolute time by this offset (whole
	// milliseconds; see the package doc for the fields).
	TimeShift time.Duration
	// KeyedTimeShift derives the offset from the key instead: 1 to 260
	// whole weeks into the past, so weekdays and times of day survive.
	// It excludes TimeShift.
	KeyedTimeShift bool
	// Self lists the node's own addresses; they become the placeholders.
	Self []string
	// DropUnknownFields removes every protobuf field this build does not
	// know (written by an extractor newer than peertape) and drops events
	// of unknown kind entirely. By default they are copied byte-exactly,
	// because they may be data a researcher needs — but peertape cannot
	// know whether they hold addresses, so the leak check scans them and
	// Stats counts them.
	DropUnknownFields bool
}

// Flags returns the options as command-line flags for the segment
// metadata. Self addresses are counted, never listed.
func (o Options) Flags() []string {
	f := []string{
		fmt.Sprintf("--drop-unknown-payloads=%t", !o.KeepUnknownPayloads),
		fmt.Sprintf("--keep-public-data=%t", !o.DropPublicData),
		fmt.Sprintf("--scrub-ports=%t", o.ScrubPorts),
		fmt.Sprintf("--drop-unknown-fields=%t", o.DropUnknownFields),
	}
	switch {
	case o.KeyedTimeShift:
		f = append(f, "--time-shift=keyed")
	case o.TimeShift != 0:
		f = append(f, "--time-shift="+o.TimeShift.String())
	}
	if !o.DropKinds.Empty() {
		f = append(f, "--drop-kinds="+strings.Join(o.DropKinds.Only(), ","))
	}
	if len(o.Self) > 0 {
		f = append(f, fmt.Sprintf("--self=<%d addresses, not recorded>", len(o.Self)))
	}
	return f
}

// Stats counts what a Sanitizer did.
type Stats struct {
	Events            uint64 `json:"events"`             // events given to Event
	Dropped           uint64 `json:"dropped"`            // events dropped by DropKinds
	Addresses         uint64 `json:"addresses"`          // addresses replaced (structured and in text)
	PayloadsRewritten uint64 `json:"payloads_rewritten"` // addr/addrv2/version payloads rewritten in place
	PayloadsDropped   uint64 `json:"payloads_dropped"`   // unknown payloads emptied
	// UnknownFields counts protobuf fields this build does not know (and
	// closed-enum values it does not define), copied unchanged or, with
	// DropUnknownFields, removed; UnknownFieldEvents the events holding
	// them.
	UnknownFields      uint64 `json:"unknown_fields"`
	UnknownFieldEvents uint64 `json:"unknown_field_events"`
	// UnknownKindDropped counts events of unknown kind dropped by
	// DropUnknownFields.
	UnknownKindDropped uint64 `json:"unknown_kind_dropped"`
	// FastPath counts events rewritten on their wire bytes (see fast.go)
	// rather than decoded and re-encoded.
	FastPath uint64 `json:"fast_path"`
}

// Sanitizer rewrites events. It is not safe for concurrent use; two
// Sanitizers with the same key and options produce identical output, so
// parallel workers each get their own.
type Sanitizer struct {
	key     Key
	opts    Options
	addr    *Address
	shiftMs int64
	msg     *pb.Event
	stats   Stats

	fastRoot, fastSchema *fastTable
	noFast               bool     // tests: always take the full rewrite
	fastBuf              [][]byte // scratch per nesting depth
	// borrow lets Event return its scratch buffers: the result is valid
	// only until the next call. Archive sets it, as it writes each event
	// at once; it saves a copy and an allocation per event.
	borrow    bool
	outBuf    []byte // full rewrite's encoding while borrowing
	unmarshal proto.UnmarshalOptions

	lastNode, lastNodeOut string // events of one file share their node
	lastNodeSelf          int    // self addresses known when lastNodeOut was made
}

// New returns a Sanitizer for key and opts.
func New(key Key, opts Options) (*Sanitizer, error) {
	if opts.KeyedTimeShift && opts.TimeShift != 0 {
		return nil, errors.New("sanitize: a keyed time shift excludes a given one")
	}
	if opts.TimeShift%time.Millisecond != 0 {
		return nil, fmt.Errorf("sanitize: time shift %v is not a whole number of milliseconds", opts.TimeShift)
	}
	a, err := NewAddress(key, opts.ScrubPorts, opts.Self)
	if err != nil {
		return nil, fmt.Errorf("sanitize: %w", err)
	}
	s := &Sanitizer{key: key, opts: opts, addr: a, msg: new(pb.Event)}
	switch {
	case opts.KeyedTimeShift:
		s.shiftMs = keyedShift(key).Milliseconds()
	default:
		s.shiftMs = opts.TimeShift.Milliseconds()
	}
	s.fastRoot, s.fastSchema = buildFastTables(opts, s.shiftMs)
	s.unmarshal = proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: opts.DropUnknownFields}
	s.lastNodeOut = s.addr.Text("")
	return s, nil
}

// keyedShift derives 1 to 260 whole weeks into the past from the key.
func keyedShift(key Key) time.Duration {
	v := binary.BigEndian.Uint64(key.derive("time-shift"))
	weeks := 1 + v%260
	return -time.Duration(weeks) * 7 * 24 * time.Hour
}

// TimeShift returns the offset added to every absolute time.
func (s *Sanitizer) TimeShift() time.Duration { return time.Duration(s.shiftMs) * time.Millisecond }

// Fingerprint returns the key's fingerprint.
func (s *Sanitizer) Fingerprint() string { return s.key.Fingerprint() }

// Address returns the address pseudonymizer the Sanitizer uses.
func (s *Sanitizer) Address() *Address { return s.addr }

// Stats returns the counts so far.
func (s *Sanitizer) Stats() Stats { return s.stats }

// Event returns the sanitized copy of ev, or keep == false when
// DropKinds drops it. ev is not modified. Node is kept (with any address
// in it replaced). An event that does not decode is an error: it cannot
// be vouched for, so the caller must not publish it.
//
// Getnetworkinfo local addresses join the self set as they are seen;
// events before the first getnetworkinfo do not know them, so callers
// that can read their input twice should pass them first (SelfAddresses).
func (s *Sanitizer) Event(ev event.Event) (out event.Event, keep bool, err error) {
	s.stats.Events++
	if !s.opts.DropKinds.Empty() && s.opts.DropKinds.Match(ev) {
		s.stats.Dropped++
		return event.Event{}, false, nil
	}
	if s.opts.DropUnknownFields && ev.Kind == event.Unknown {
		s.stats.UnknownKindDropped++
		return event.Event{}, false, nil
	}
	var raw []byte
	unknown := 0
	if fast, st, ok := s.fastEvent(ev.Raw); ok && !s.noFast {
		raw, unknown = fast, st.unknown
		s.stats.Addresses += uint64(st.addrs)
		s.stats.FastPath++
	} else {
		if err := s.unmarshal.Unmarshal(ev.Raw, s.msg); err != nil {
			return event.Event{}, false, fmt.Errorf("sanitize: %w: %v", event.ErrMalformed, err)
		}
		unknown = s.countUnknown(ev.Raw)
		s.rewrite(s.msg)
		if s.borrow {
			raw, err = marshalOpts.MarshalAppend(s.outBuf[:0], s.msg)
			s.outBuf = raw
		} else {
			raw, err = marshalOpts.Marshal(s.msg)
		}
		if err != nil {
			return event.Event{}, false, fmt.Errorf("sanitize: encode: %w", err)
		}
	}
	if unknown > 0 {
		s.stats.UnknownFields += uint64(unknown)
		s.stats.UnknownFieldEvents++
	}
	out, err = event.Parse(raw)
	if err != nil {
		return event.Event{}, false, fmt.Errorf("sanitize: re-parse: %w", err)
	}
	// event.Parse reads the last occurrence of a oneof field where a
	// decoder merges repeated occurrences, so a non-canonical input can
	// be classified differently before and after re-encoding: filter on
	// both.
	if !s.opts.DropKinds.Empty() && s.opts.DropKinds.Match(out) {
		s.stats.Dropped++
		return event.Event{}, false, nil
	}
	if ev.Node != s.lastNode || s.addr.SelfCount() != s.lastNodeSelf {
		s.lastNode, s.lastNodeOut, s.lastNodeSelf = ev.Node, s.addr.Text(ev.Node), s.addr.SelfCount()
	}
	out.Node = s.lastNodeOut
	return out, true, nil
}

// AllowPartial: an event that arrived without a required field leaves
// without it, rather than being lost.
var marshalOpts = proto.MarshalOptions{Deterministic: true, AllowPartial: true}

// SelfAddresses returns the node's own addresses that ev reports
// (getnetworkinfo local_addresses), for a first pass over an input.
func SelfAddresses(ev event.Event) ([]string, error) {
	if ev.Kind != event.RPC || ev.Type != "network_info" {
		return nil, nil
	}
	m, err := ev.Decode()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, la := range m.GetRpcExtractor().GetNetworkInfo().GetLocalAddresses() {
		if a := la.GetAddress(); a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// The Sanitizer is the visitor of the payload walker.
var _ visitor = (*Sanitizer)(nil)

func (s *Sanitizer) ip16(b [16]byte) [16]byte {
	s.stats.Addresses++
	return s.addr.IP(netip.AddrFrom16(b)).As16()
}

func (s *Sanitizer) addrV2(netID uint8, b []byte) []byte {
	s.stats.Addresses++
	switch {
	case netID == 1 && len(b) == 4:
		ip := s.addr.IP(netip.AddrFrom4([4]byte(b))).As4()
		return ip[:]
	case (netID == 2 || netID == 6) && len(b) == 16:
		ip := s.addr.IP(netip.AddrFrom16([16]byte(b))).As16()
		return ip[:]
	case netID == 3 && len(b) == 10:
		return s.addr.TorV2(b)
	case netID == 4 && len(b) == 32:
		return s.addr.TorV3(b)
	case netID == 5 && len(b) == 32:
		return s.addr.I2P(b)
	}
	return s.addr.Unknown(uint32(netID), b)
}

func (s *Sanitizer) port(p uint16) uint16 { return uint16(s.addr.Port(uint32(p))) }

func (s *Sanitizer) unixSeconds(t int64) int64 { return t + s.shiftMs/1000 }

func (s *Sanitizer) text(str string) string { return s.addr.Text(str) }

// Time shifting. Zero means never or unknown and stays zero; results
// saturate at zero rather than wrap.
func (s *Sanitizer) secU64(p *uint64) {
	if p != nil && *p != 0 {
		*p = uint64(max(int64(*p)+s.shiftMs/1000, 0))
	}
}

func (s *Sanitizer) secI64(p *int64) {
	if p != nil && *p != 0 {
		*p = max(*p+s.shiftMs/1000, 0)
	}
}

func (s *Sanitizer) msU64(p *uint64) {
	if p != nil && *p != 0 {
		*p = uint64(max(int64(*p)+s.shiftMs, 0))
	}
}

func (s *Sanitizer) str(p *string) {
	if p != nil && *p != "" {
		*p = s.addr.Text(*p)
	}
}

func (s *Sanitizer) hostPort(p *string) {
	if p != nil && *p != "" {
		s.stats.Addresses++
		*p = s.addr.HostPort(*p)
	}
}

func (s *Sanitizer) rewrite(m *pb.Event) {
	evMs := int64(m.GetTimestamp())
	if s.shiftMs != 0 {
		s.msU64(m.Timestamp)
	}
	switch e := m.PeerObserverEvent.(type) {
	case *pb.Event_EbpfExtractor:
		s.ebpf(e.EbpfExtractor, evMs)
	case *pb.Event_RpcExtractor:
		s.rpc(e.RpcExtractor)
	case *pb.Event_P2PExtractor:
		if a, ok := e.P2PExtractor.GetP2PEvent().(*pb.P2P_AddressAnnouncement); ok {
			s.addresses(a.AddressAnnouncement.GetAddresses())
		}
	case *pb.Event_LogExtractor:
		s.log(e.LogExtractor)
	}
}

func (s *Sanitizer) ebpf(e *pb.Ebpf, evMs int64) {
	switch x := e.GetEbpfEvent().(type) {
	case *pb.Ebpf_Message:
		s.message(x.Message, evMs)
	case *pb.Ebpf_Connection:
		s.connection(x.Connection)
	case *pb.Ebpf_Addrman:
		switch a := x.Addrman.GetEvent().(type) {
		case *pb.AddrmanEvent_New:
			s.hostPort(a.New.Addr)
			s.hostPort(a.New.Source)
		case *pb.AddrmanEvent_Tried:
			s.hostPort(a.Tried.Addr)
			s.hostPort(a.Tried.Source)
		}
	case *pb.Ebpf_Mempool:
		switch a := x.Mempool.GetEvent().(type) {
		case *pb.MempoolEvent_Removed:
			s.secU64(a.Removed.EntryTime)
			s.str(a.Removed.Reason)
		case *pb.MempoolEvent_Replaced:
			s.secU64(a.Replaced.ReplacedEntryTime)
		case *pb.MempoolEvent_Rejected:
			s.str(a.Rejected.Reason)
		}
	}
}

// nonceWindow is how close to the event time a ping nonce must be, read
// as nanoseconds since the epoch, to count as a time: the p2p-extractor's
// pings carry their send time. A random nonce falls in it with
// probability about 1e-5.
const nonceWindow = 24 * time.Hour

func (s *Sanitizer) nonce(p *uint64, evMs int64) {
	if p == nil || s.shiftMs == 0 || evMs == 0 {
		return
	}
	d := int64(*p/uint64(time.Millisecond)) - evMs
	if d < 0 {
		d = -d
	}
	if d <= nonceWindow.Milliseconds() {
		*p = uint64(int64(*p) + s.shiftMs*int64(time.Millisecond))
	}
}

// message rewrites a P2P message; evMs is the event time before any
// shift, for recognising time-valued ping nonces.
func (s *Sanitizer) message(m *pb.MessageEvent, evMs int64) {
	if meta := m.GetMeta(); meta != nil {
		s.hostPort(meta.Addr)
	}
	switch x := m.GetMsg().(type) {
	case *pb.MessageEvent_Addr:
		s.addresses(x.Addr.GetAddresses())
	case *pb.MessageEvent_Addrv2:
		s.addresses(x.Addrv2.GetAddresses())
	case *pb.MessageEvent_Version:
		v := x.Version
		s.address(v.Receiver)
		s.address(v.Sender)
		s.secI64(v.Timestamp)
		s.str(v.UserAgent)
	case *pb.MessageEvent_Unknown:
		s.unknownPayload(x.Unknown)
	case *pb.MessageEvent_Reject:
		s.str(x.Reject.ReasonDetails)
		s.str(x.Reject.RejectedCommand)
	case *pb.MessageEvent_Ping:
		s.nonce(x.Ping.Value, evMs)
	case *pb.MessageEvent_Pong:
		s.nonce(x.Pong.Value, evMs)
	case *pb.MessageEvent_Tx:
		s.publicTx(x.Tx.GetTx())
	case *pb.MessageEvent_Block:
		if s.opts.DropPublicData {
			x.Block.Transactions = nil
		}
	case *pb.MessageEvent_Blocktxn:
		for _, t := range x.Blocktxn.GetTransactions() {
			s.publicTx(t)
		}
	case *pb.MessageEvent_Compactblock:
		for _, t := range x.Compactblock.GetTransactions() {
			s.publicTx(t.GetTx())
		}
	}
}

func (s *Sanitizer) publicTx(t *pb.Transaction) {
	if s.opts.DropPublicData && t != nil {
		t.Raw = nil
	}
}

func (s *Sanitizer) unknownPayload(u *pb.Unknown) {
	if len(u.Payload) == 0 {
		return
	}
	cmd := u.GetCommand()
	if addressCommands[cmd] {
		if p, err := walkPayload(cmd, u.Payload, s); err == nil {
			u.Payload = p
			s.stats.PayloadsRewritten++
			return
		}
		// Unparseable: it cannot be vouched for whatever the options say.
	} else if s.opts.KeepUnknownPayloads {
		return
	}
	u.Payload = []byte{}
	s.stats.PayloadsDropped++
}

func (s *Sanitizer) connection(c *pb.ConnectionEvent) {
	switch x := c.GetEvent().(type) {
	case *pb.ConnectionEvent_Closed:
		s.connAddr(x.Closed.GetConn())
		s.secU64(x.Closed.TimeEstablished)
	case *pb.ConnectionEvent_InboundEvicted:
		s.connAddr(x.InboundEvicted.GetConn())
		s.secU64(x.InboundEvicted.TimeEstablished)
	case *pb.ConnectionEvent_Inbound:
		s.connAddr(x.Inbound.GetConn())
	case *pb.ConnectionEvent_Outbound:
		s.connAddr(x.Outbound.GetConn())
	case *pb.ConnectionEvent_Misbehaving:
		s.str(x.Misbehaving.Message)
	}
}

func (s *Sanitizer) connAddr(c *pb.Connection) {
	if c != nil {
		s.hostPort(c.Addr)
	}
}

func (s *Sanitizer) addresses(as []*pb.Address) {
	for _, a := range as {
		s.address(a)
	}
}

// address rewrites one bitcoin_primitives.Address in place.
func (s *Sanitizer) address(a *pb.Address) {
	if a == nil {
		return
	}
	if a.Timestamp != nil && *a.Timestamp != 0 && s.shiftMs != 0 {
		*a.Timestamp = uint32(min(max(int64(*a.Timestamp)+s.shiftMs/1000, 0), 1<<32-1))
	}
	if a.Port != nil {
		*a.Port = s.addr.Port(*a.Port)
	}
	s.stats.Addresses++
	switch x := a.Address.(type) {
	case *pb.Address_Ipv4:
		x.Ipv4 = s.hostText(x.Ipv4)
	case *pb.Address_Ipv6:
		x.Ipv6 = s.hostText(x.Ipv6)
	case *pb.Address_Cjdns:
		x.Cjdns = s.hostText(x.Cjdns)
	case *pb.Address_Torv2:
		x.Torv2 = s.hostText(x.Torv2)
	case *pb.Address_Torv3:
		x.Torv3 = s.hostText(x.Torv3)
	case *pb.Address_I2P:
		x.I2P = s.hostText(x.I2P)
	case *pb.Address_Unknown:
		if u := x.Unknown; u != nil && len(u.Address) > 0 {
			u.Address = s.addr.Unknown(u.GetId(), u.Address)
		}
	}
}

// hostText rewrites a bare host; text that is no host goes through the
// free-text scanner.
func (s *Sanitizer) hostText(h string) string {
	if r, ok := s.addr.Host(h); ok {
		return r
	}
	return s.addr.Text(h)
}

func (s *Sanitizer) rpc(r *pb.Rpc) {
	switch x := r.GetRpcEvent().(type) {
	case *pb.Rpc_PeerInfos:
		for _, p := range x.PeerInfos.GetInfos() {
			s.hostPort(p.Address)
			s.hostPort(p.AddressBind)
			s.hostPort(p.AddressLocal)
			s.str(p.Subversion)
			if s.shiftMs != 0 {
				s.secI64(p.LastSend)
				s.secI64(p.LastReceived)
				s.secI64(p.LastTransaction)
				s.secI64(p.LastBlock)
				s.secI64(p.ConnectionTime)
			}
		}
	case *pb.Rpc_NetworkInfo:
		n := x.NetworkInfo
		for _, la := range n.GetLocalAddresses() {
			if a := la.GetAddress(); a != "" {
				_ = s.addr.AddSelf(a) // unparseable text is still rewritten below
			}
			if la.Address != nil {
				*la.Address = s.hostText(*la.Address)
				s.stats.Addresses++
			}
			if la.Port != nil {
				*la.Port = s.addr.Port(*la.Port)
			}
		}
		for _, nw := range n.GetNetworks() {
			s.hostPort(nw.Proxy)
		}
		s.str(n.Subversion)
		for i := range n.Warnings {
			n.Warnings[i] = s.addr.Text(n.Warnings[i])
		}
	case *pb.Rpc_BlockchainInfo:
		for i := range x.BlockchainInfo.Warnings {
			x.BlockchainInfo.Warnings[i] = s.addr.Text(x.BlockchainInfo.Warnings[i])
		}
	case *pb.Rpc_NetTotals:
		s.msU64(x.NetTotals.TimeMillis)
	case *pb.Rpc_OrphanTxs:
		for _, o := range x.OrphanTxs.GetOrphans() {
			s.publicTx(o.Transaction)
		}
	case *pb.Rpc_Addrman:
		s.addrmanTable(x.Addrman.GetNew())
		s.addrmanTable(x.Addrman.GetTried())
	}
}

func (s *Sanitizer) addrmanTable(t map[uint32]*pb.AddrmanBucket) {
	for _, b := range t {
		for _, e := range b.GetEntries() {
			if e.Address != nil {
				*e.Address = s.hostText(*e.Address)
				s.stats.Addresses++
			}
			if e.Source != nil {
				*e.Source = s.hostText(*e.Source)
				s.stats.Addresses++
			}
			if e.Port != nil {
				*e.Port = s.addr.Port(*e.Port)
			}
			s.secI64(e.Time)
		}
	}
}

func (s *Sanitizer) log(l *pb.Log) {
	if l.LogTimestamp != nil && *l.LogTimestamp != 0 && s.shiftMs != 0 {
		*l.LogTimestamp = uint64(max(int64(*l.LogTimestamp)+s.shiftMs*1000, 0))
	}
	s.str(l.Threadname)
	switch x := l.GetLogEvent().(type) {
	case *pb.Log_UnknownLogMessage:
		s.str(x.UnknownLogMessage.RawMessage)
	case *pb.Log_BlockCheckedLog:
		s.str(x.BlockCheckedLog.State)
		s.str(x.BlockCheckedLog.DebugMessage)
	}
}
