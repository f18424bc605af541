package rpc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// The model turns a JSON-RPC result into the rpc_extractor.rpc message
// peer-observer publishes for it. It follows peer-observer's mapping
// (shared/src/protobuf/rpc_extractor.rs): values pass through as the node
// returns them (fee rates stay BTC/kvB, pings stay seconds), proto2
// required fields the node does not send get their zero value, optional
// ones stay unset. Numbers are decoded leniently: a number that does not
// fit the proto type saturates instead of failing the whole result (Core
// returns -1 for unknown heights; a uint field gets 0).
//
// btcd answers a few RPCs with its own shapes; those are mapped to Core's
// meaning so analyzers see one unit per field (see convertPeerInfo).

// num is a JSON number as its literal (json.Number decodes without a
// per-value unmarshaler, which matters for getrawaddrman's 65,000 entries);
// it is converted on use. A missing or null number is "".
type num = json.Number

func present(n num) bool { return n != "" }

func f64(n num) float64 {
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

func i64(n num) int64 {
	if v, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return v
	}
	f := f64(n)
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	case math.IsNaN(f):
		return 0
	}
	return int64(f)
}

func u64(n num) uint64 {
	if v, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return v
	}
	f := f64(n)
	switch {
	case f <= 0 || math.IsNaN(f):
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(f)
}

func u32(n num) uint32 {
	v := u64(n)
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

func i32(n num) int32 {
	v := i64(n)
	switch {
	case v > math.MaxInt32:
		return math.MaxInt32
	case v < math.MinInt32:
		return math.MinInt32
	}
	return int32(v)
}

// strList accepts a JSON array of strings or a single string (Core's
// "warnings" is a string before v28 and with -deprecatedrpc=warnings).
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*l = nil
		} else {
			*l = strList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// errModel marks results that do not fit the schema; they are counted as
// model errors.
var errModel = errors.New("result does not fit the model")

func decode(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", errModel, err)
	}
	return nil
}

// converter turns one RPC result into the rpc message.
type converter func(raw json.RawMessage) (*pb.Rpc, error)

type peerInfoJSON struct {
	ID                    num            `json:"id"`
	Addr                  string         `json:"addr"`
	AddrBind              string         `json:"addrbind"`
	AddrLocal             string         `json:"addrlocal"`
	Network               *string        `json:"network"`
	MappedAS              num            `json:"mapped_as"`
	Services              string         `json:"services"`
	RelayTxes             bool           `json:"relaytxes"`
	LastSend              num            `json:"lastsend"`
	LastRecv              num            `json:"lastrecv"`
	LastTransaction       num            `json:"last_transaction"`
	LastBlock             num            `json:"last_block"`
	BytesSent             num            `json:"bytessent"`
	BytesRecv             num            `json:"bytesrecv"`
	ConnTime              num            `json:"conntime"`
	TimeOffset            num            `json:"timeoffset"`
	PingTime              num            `json:"pingtime"`
	MinPing               num            `json:"minping"`
	PingWait              num            `json:"pingwait"`
	Version               num            `json:"version"`
	SubVer                string         `json:"subver"`
	Inbound               bool           `json:"inbound"`
	BIP152HBTo            bool           `json:"bip152_hb_to"`
	BIP152HBFrom          bool           `json:"bip152_hb_from"`
	StartingHeight        num            `json:"startingheight"`
	SyncedHeaders         num            `json:"synced_headers"`
	SyncedBlocks          num            `json:"synced_blocks"`
	Inflight              []num          `json:"inflight"`
	AddrRelayEnabled      bool           `json:"addr_relay_enabled"`
	AddrProcessed         num            `json:"addr_processed"`
	AddrRateLimited       num            `json:"addr_rate_limited"`
	Permissions           []string       `json:"permissions"`
	MinFeeFilter          num            `json:"minfeefilter"`
	BytesSentPerMsg       map[string]num `json:"bytessent_per_msg"`
	BytesRecvPerMsg       map[string]num `json:"bytesrecv_per_msg"`
	ConnectionType        string         `json:"connection_type"`
	TransportProtocolType string         `json:"transport_protocol_type"`
	InvToSend             num            `json:"inv_to_send"` // patched Core
	CPULoad               num            `json:"cpu_load"`    // Core PR #31672
	SyncNode              *bool          `json:"syncnode"`    // btcd only
	V2Connection          *bool          `json:"v2_connection"`
}

func convertPeerInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in []peerInfoJSON
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	out := &pb.PeerInfos{Infos: make([]*pb.PeerInfo, 0, len(in))}
	for i := range in {
		out.Infos = append(out.Infos, peerInfo(&in[i]))
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: out}}, nil
}

func peerInfo(p *peerInfoJSON) *pb.PeerInfo {
	pingTime, minPing, pingWait := f64(p.PingTime), f64(p.MinPing), f64(p.PingWait)
	services, transport := p.Services, p.TransportProtocolType
	network := ""
	if p.Network != nil {
		network = *p.Network
	}
	// btcd: "syncnode" has not been in Core's output for a decade and
	// every Core since 0.21 sends "network". btcd reports pings in
	// microseconds and services as %08d of the flags; Core's meaning is
	// seconds and 16 hex digits.
	if p.SyncNode != nil && p.Network == nil {
		pingTime, minPing, pingWait = pingTime/1e6, minPing/1e6, pingWait/1e6
		if v, err := strconv.ParseUint(services, 10, 64); err == nil {
			services = fmt.Sprintf("%016x", v)
		}
		if transport == "" && p.V2Connection != nil {
			transport = "v1"
			if *p.V2Connection {
				transport = "v2"
			}
		}
	}
	info := &pb.PeerInfo{
		Id:                      proto.Uint32(u32(p.ID)),
		Address:                 proto.String(p.Addr),
		AddressBind:             proto.String(p.AddrBind),
		AddressLocal:            proto.String(p.AddrLocal),
		Network:                 proto.String(network),
		MappedAs:                proto.Uint32(u32(p.MappedAS)),
		Services:                proto.String(services),
		RelayTransactions:       proto.Bool(p.RelayTxes),
		LastSend:                proto.Int64(i64(p.LastSend)),
		LastReceived:            proto.Int64(i64(p.LastRecv)),
		LastTransaction:         proto.Int64(i64(p.LastTransaction)),
		LastBlock:               proto.Int64(i64(p.LastBlock)),
		BytesSent:               proto.Uint64(u64(p.BytesSent)),
		BytesReceived:           proto.Uint64(u64(p.BytesRecv)),
		ConnectionTime:          proto.Int64(i64(p.ConnTime)),
		TimeOffset:              proto.Int64(i64(p.TimeOffset)),
		PingTime:                proto.Float64(pingTime),
		MinimumPing:             proto.Float64(minPing),
		PingWait:                proto.Float64(pingWait),
		Version:                 proto.Uint32(u32(p.Version)),
		Subversion:              proto.String(p.SubVer),
		Inbound:                 proto.Bool(p.Inbound),
		Bip152HbTo:              proto.Bool(p.BIP152HBTo),
		Bip152HbFrom:            proto.Bool(p.BIP152HBFrom),
		StartingHeight:          proto.Int64(i64(p.StartingHeight)),
		SyncedHeaders:           proto.Int64(i64(p.SyncedHeaders)),
		SyncedBlocks:            proto.Int64(i64(p.SyncedBlocks)),
		AddrRelayEnabled:        proto.Bool(p.AddrRelayEnabled),
		AddrProcessed:           proto.Uint64(u64(p.AddrProcessed)),
		AddrRateLimited:         proto.Uint64(u64(p.AddrRateLimited)),
		Permissions:             p.Permissions,
		Minfeefilter:            proto.Float64(f64(p.MinFeeFilter)),
		BytesSentPerMessage:     perMsg(p.BytesSentPerMsg),
		BytesReceivedPerMessage: perMsg(p.BytesRecvPerMsg),
		ConnectionType:          proto.String(p.ConnectionType),
		TransportProtocolType:   proto.String(transport),
		InvToSend:               proto.Uint64(u64(p.InvToSend)),
		CpuLoad:                 proto.Float64(f64(p.CPULoad)),
	}
	if len(p.Inflight) > 0 {
		info.Inflight = make([]uint64, len(p.Inflight))
		for i := range p.Inflight {
			info.Inflight[i] = u64(p.Inflight[i])
		}
	}
	return info
}

func perMsg(m map[string]num) map[string]uint64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = u64(v)
	}
	return out
}

func convertMempoolInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		Loaded              bool `json:"loaded"`
		Size                num  `json:"size"`
		Bytes               num  `json:"bytes"`
		Usage               num  `json:"usage"`
		TotalFee            num  `json:"total_fee"`
		MaxMempool          num  `json:"maxmempool"`
		MempoolMinFee       num  `json:"mempoolminfee"`
		MinRelayTxFee       num  `json:"minrelaytxfee"`
		IncrementalRelayFee num  `json:"incrementalrelayfee"`
		UnbroadcastCount    num  `json:"unbroadcastcount"`
		FullRBF             bool `json:"fullrbf"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_MempoolInfo{MempoolInfo: &pb.MempoolInfo{
		Loaded:              proto.Bool(in.Loaded),
		Size:                proto.Int64(i64(in.Size)),
		Bytes:               proto.Int64(i64(in.Bytes)),
		Usage:               proto.Int64(i64(in.Usage)),
		TotalFee:            proto.Float64(f64(in.TotalFee)),
		MaxMempool:          proto.Int64(i64(in.MaxMempool)),
		Mempoolminfee:       proto.Float64(f64(in.MempoolMinFee)),
		Minrelaytxfee:       proto.Float64(f64(in.MinRelayTxFee)),
		Incrementalrelayfee: proto.Float64(f64(in.IncrementalRelayFee)),
		Unbroadcastcount:    proto.Int64(i64(in.UnbroadcastCount)),
		Fullrbf:             proto.Bool(in.FullRBF),
	}}}, nil
}

func convertUptime(raw json.RawMessage) (*pb.Rpc, error) {
	var in num
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if !present(in) {
		return nil, fmt.Errorf("%w: uptime is null", errModel)
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_Uptime{Uptime: u32(in)}}, nil
}

func convertNetTotals(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		TotalBytesRecv num `json:"totalbytesrecv"`
		TotalBytesSent num `json:"totalbytessent"`
		TimeMillis     num `json:"timemillis"`
		UploadTarget   struct {
			Timeframe             num  `json:"timeframe"`
			Target                num  `json:"target"`
			TargetReached         bool `json:"target_reached"`
			ServeHistoricalBlocks bool `json:"serve_historical_blocks"`
			BytesLeftInCycle      num  `json:"bytes_left_in_cycle"`
			TimeLeftInCycle       num  `json:"time_left_in_cycle"`
		} `json:"uploadtarget"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	u := in.UploadTarget
	return &pb.Rpc{RpcEvent: &pb.Rpc_NetTotals{NetTotals: &pb.NetTotals{
		TotalBytesReceived: proto.Uint64(u64(in.TotalBytesRecv)),
		TotalBytesSent:     proto.Uint64(u64(in.TotalBytesSent)),
		TimeMillis:         proto.Uint64(u64(in.TimeMillis)),
		UploadTarget: &pb.UploadTarget{
			Timeframe:             proto.Uint64(u64(u.Timeframe)),
			Target:                proto.Uint64(u64(u.Target)),
			TargetReached:         proto.Bool(u.TargetReached),
			ServeHistoricalBlocks: proto.Bool(u.ServeHistoricalBlocks),
			BytesLeftInCycle:      proto.Uint64(u64(u.BytesLeftInCycle)),
			TimeLeftInCycle:       proto.Uint64(u64(u.TimeLeftInCycle)),
		},
	}}}, nil
}

func convertMemoryInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		Locked *struct {
			Used       num `json:"used"`
			Free       num `json:"free"`
			Total      num `json:"total"`
			Locked     num `json:"locked"`
			ChunksUsed num `json:"chunks_used"`
			ChunksFree num `json:"chunks_free"`
		} `json:"locked"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	// peer-observer panics here; a result without the locked pool is a
	// model error.
	if in.Locked == nil {
		return nil, fmt.Errorf("%w: getmemoryinfo has no \"locked\" object", errModel)
	}
	l := in.Locked
	return &pb.Rpc{RpcEvent: &pb.Rpc_MemoryInfo{MemoryInfo: &pb.MemoryInfo{
		Used:       proto.Uint64(u64(l.Used)),
		Free:       proto.Uint64(u64(l.Free)),
		Total:      proto.Uint64(u64(l.Total)),
		Locked:     proto.Uint64(u64(l.Locked)),
		ChunksUsed: proto.Uint64(u64(l.ChunksUsed)),
		ChunksFree: proto.Uint64(u64(l.ChunksFree)),
	}}}, nil
}

func convertAddrManInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in map[string]struct {
		New   num `json:"new"`
		Tried num `json:"tried"`
		Total num `json:"total"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	out := &pb.AddrManInfo{}
	if len(in) > 0 {
		out.Networks = make(map[string]*pb.AddrManInfoNetwork, len(in))
	}
	for name, n := range in {
		out.Networks[name] = &pb.AddrManInfoNetwork{New: proto.Uint64(u64(n.New)), Tried: proto.Uint64(u64(n.Tried)), Total: proto.Uint64(u64(n.Total))}
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_AddrmanInfo{AddrmanInfo: out}}, nil
}

func convertChainTxStats(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		Time                   num    `json:"time"`
		TxCount                num    `json:"txcount"`
		WindowFinalBlockHash   string `json:"window_final_block_hash"`
		WindowFinalBlockHeight num    `json:"window_final_block_height"`
		WindowBlockCount       num    `json:"window_block_count"`
		WindowTxCount          num    `json:"window_tx_count"`
		WindowInterval         num    `json:"window_interval"`
		TxRate                 num    `json:"txrate"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	s := &pb.ChainTxStats{
		Time:                   proto.Uint32(u32(in.Time)),
		TxCount:                proto.Uint32(u32(in.TxCount)),
		WindowFinalBlockHash:   proto.String(in.WindowFinalBlockHash),
		WindowFinalBlockHeight: proto.Uint32(u32(in.WindowFinalBlockHeight)),
		WindowBlockCount:       proto.Uint32(u32(in.WindowBlockCount)),
	}
	// Core omits these for an empty window or an unknown tx count; the
	// proto keeps them optional, so absence stays visible.
	if present(in.WindowTxCount) {
		s.WindowTxCount = proto.Uint32(u32(in.WindowTxCount))
	}
	if present(in.WindowInterval) {
		s.WindowInterval = proto.Uint32(u32(in.WindowInterval))
	}
	if present(in.TxRate) {
		s.TxRate = proto.Float64(f64(in.TxRate))
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_ChainTxStats{ChainTxStats: s}}, nil
}

func convertNetworkInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		Version            num      `json:"version"`
		Subversion         string   `json:"subversion"`
		ProtocolVersion    num      `json:"protocolversion"`
		LocalServices      string   `json:"localservices"`
		LocalServicesNames []string `json:"localservicesnames"`
		LocalRelay         bool     `json:"localrelay"`
		TimeOffset         num      `json:"timeoffset"`
		Connections        num      `json:"connections"`
		ConnectionsIn      num      `json:"connections_in"`
		ConnectionsOut     num      `json:"connections_out"`
		NetworkActive      bool     `json:"networkactive"`
		Networks           []struct {
			Name                      string `json:"name"`
			Limited                   bool   `json:"limited"`
			Reachable                 bool   `json:"reachable"`
			Proxy                     string `json:"proxy"`
			ProxyRandomizeCredentials bool   `json:"proxy_randomize_credentials"`
		} `json:"networks"`
		RelayFee       num `json:"relayfee"`
		IncrementalFee num `json:"incrementalfee"`
		LocalAddresses []struct {
			Address string `json:"address"`
			Port    num    `json:"port"`
			Score   num    `json:"score"`
		} `json:"localaddresses"`
		Warnings strList `json:"warnings"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	ni := &pb.NetworkInfo{
		Version:            proto.Int32(i32(in.Version)),
		Subversion:         proto.String(in.Subversion),
		ProtocolVersion:    proto.Int32(i32(in.ProtocolVersion)),
		LocalServices:      proto.String(in.LocalServices),
		LocalServicesNames: in.LocalServicesNames,
		LocalRelay:         proto.Bool(in.LocalRelay),
		TimeOffset:         proto.Int32(i32(in.TimeOffset)),
		Connections:        proto.Uint32(u32(in.Connections)),
		ConnectionsIn:      proto.Uint32(u32(in.ConnectionsIn)),
		ConnectionsOut:     proto.Uint32(u32(in.ConnectionsOut)),
		NetworkActive:      proto.Bool(in.NetworkActive),
		RelayFee:           proto.Float64(f64(in.RelayFee)),
		IncrementalFee:     proto.Float64(f64(in.IncrementalFee)),
		Warnings:           in.Warnings,
	}
	for _, n := range in.Networks {
		ni.Networks = append(ni.Networks, &pb.NetworkInfoNetwork{
			Name: proto.String(n.Name), Limited: proto.Bool(n.Limited), Reachable: proto.Bool(n.Reachable),
			Proxy: proto.String(n.Proxy), ProxyRandomizeCredentials: proto.Bool(n.ProxyRandomizeCredentials),
		})
	}
	for _, a := range in.LocalAddresses {
		ni.LocalAddresses = append(ni.LocalAddresses, &pb.NetworkInfoLocalAddress{
			Address: proto.String(a.Address), Port: proto.Uint32(u32(a.Port)), Score: proto.Uint32(u32(a.Score)),
		})
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_NetworkInfo{NetworkInfo: ni}}, nil
}

func convertBlockchainInfo(raw json.RawMessage) (*pb.Rpc, error) {
	var in struct {
		Chain                string  `json:"chain"`
		Blocks               num     `json:"blocks"`
		Headers              num     `json:"headers"`
		BestBlockHash        string  `json:"bestblockhash"`
		Difficulty           num     `json:"difficulty"`
		Time                 num     `json:"time"`
		MedianTime           num     `json:"mediantime"`
		VerificationProgress num     `json:"verificationprogress"`
		InitialBlockDownload bool    `json:"initialblockdownload"`
		ChainWork            string  `json:"chainwork"`
		SizeOnDisk           num     `json:"size_on_disk"`
		Pruned               bool    `json:"pruned"`
		PruneHeight          num     `json:"pruneheight"`
		PruneTargetSize      num     `json:"prune_target_size"`
		Warnings             strList `json:"warnings"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	bi := &pb.BlockchainInfo{
		Chain:                proto.String(in.Chain),
		Blocks:               proto.Uint32(u32(in.Blocks)),
		Headers:              proto.Uint32(u32(in.Headers)),
		Bestblockhash:        proto.String(in.BestBlockHash),
		Difficulty:           proto.Float64(f64(in.Difficulty)),
		Time:                 proto.Uint32(u32(in.Time)),
		Mediantime:           proto.Uint32(u32(in.MedianTime)),
		Verificationprogress: proto.Float64(f64(in.VerificationProgress)),
		Initialblockdownload: proto.Bool(in.InitialBlockDownload),
		Chainwork:            proto.String(in.ChainWork),
		SizeOnDisk:           proto.Uint64(u64(in.SizeOnDisk)),
		Pruned:               proto.Bool(in.Pruned),
		Warnings:             in.Warnings,
	}
	if present(in.PruneHeight) {
		bi.PruneHeight = proto.Uint32(u32(in.PruneHeight))
	}
	if present(in.PruneTargetSize) {
		bi.PruneTargetSize = proto.Uint64(u64(in.PruneTargetSize))
	}
	return &pb.Rpc{RpcEvent: &pb.Rpc_BlockchainInfo{BlockchainInfo: bi}}, nil
}

func convertOrphanTxs(raw json.RawMessage) (*pb.Rpc, error) {
	var in []struct {
		TxID   string `json:"txid"`
		WTxID  string `json:"wtxid"`
		Bytes  num    `json:"bytes"`
		VSize  num    `json:"vsize"`
		Weight num    `json:"weight"`
		From   []num  `json:"from"`
		Hex    string `json:"hex"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	out := &pb.OrphanTxs{Orphans: make([]*pb.OrphanTx, 0, len(in))}
	var bad []string
	for _, o := range in {
		tx := &pb.OrphanTx{
			Txid: proto.String(o.TxID), Wtxid: proto.String(o.WTxID),
			Bytes: proto.Uint64(u64(o.Bytes)), Vsize: proto.Uint64(u64(o.VSize)), Weight: proto.Uint64(u64(o.Weight)),
		}
		for _, f := range o.From {
			tx.From = append(tx.From, u64(f))
		}
		// verbosity 2 carries the transaction; its hashes are in internal
		// byte order like every bytes hash in peer-observer's schema.
		if o.Hex != "" {
			rawTx, err1 := hex.DecodeString(o.Hex)
			txid, err2 := internalHash(o.TxID)
			wtxid, err3 := internalHash(o.WTxID)
			if err := errors.Join(err1, err2, err3); err != nil {
				bad = append(bad, fmt.Sprintf("orphan %.16s: %v", o.TxID, err))
			} else {
				tx.Transaction = &pb.Transaction{Txid: txid, Wtxid: wtxid, Raw: rawTx}
			}
		}
		out.Orphans = append(out.Orphans, tx)
	}
	msg := &pb.Rpc{RpcEvent: &pb.Rpc_OrphanTxs{OrphanTxs: out}}
	if len(bad) > 0 {
		return msg, &partialError{fmt.Errorf("%w: %s", errModel, strings.Join(bad, "; "))}
	}
	return msg, nil
}

// internalHash parses a display-order hex hash into internal byte order.
func internalHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("hash %.16q: %w", s, err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("hash %.16q: %d bytes, want 32", s, len(b))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b, nil
}

type addrmanEntryJSON struct {
	Address        string `json:"address"`
	MappedAS       num    `json:"mapped_as"`
	Port           num    `json:"port"`
	Network        string `json:"network"`
	Services       num    `json:"services"`
	Time           num    `json:"time"`
	Source         string `json:"source"`
	SourceNetwork  string `json:"source_network"`
	SourceMappedAS num    `json:"source_mapped_as"`
}

func convertRawAddrman(raw json.RawMessage) (*pb.Rpc, error) {
	var in map[string]map[string]*addrmanEntryJSON
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	out := &pb.Addrman{}
	var bad []string
	for table, entries := range in {
		var dst map[uint32]*pb.AddrmanBucket
		switch table {
		case "new":
			out.New = make(map[uint32]*pb.AddrmanBucket)
			dst = out.New
		case "tried":
			out.Tried = make(map[uint32]*pb.AddrmanBucket)
			dst = out.Tried
		default:
			continue // a table this schema has no field for
		}
		for key, e := range entries {
			bucket, pos, err := bucketPosition(key)
			if err == nil && e == nil {
				err = errors.New("null entry")
			}
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s %q: %v", table, key, err))
				continue
			}
			b := dst[bucket]
			if b == nil {
				b = &pb.AddrmanBucket{Entries: make(map[uint32]*pb.AddrmanEntry)}
				dst[bucket] = b
			}
			ent := &pb.AddrmanEntry{
				Address: proto.String(e.Address), Port: proto.Uint32(u32(e.Port)), Network: proto.String(e.Network),
				Services: proto.Uint64(u64(e.Services)), Time: proto.Int64(i64(e.Time)),
				Source: proto.String(e.Source), SourceNetwork: proto.String(e.SourceNetwork),
			}
			if present(e.MappedAS) {
				ent.MappedAs = proto.Uint32(u32(e.MappedAS))
			}
			if present(e.SourceMappedAS) {
				ent.SourceMappedAs = proto.Uint32(u32(e.SourceMappedAS))
			}
			b.Entries[pos] = ent
		}
	}
	msg := &pb.Rpc{RpcEvent: &pb.Rpc_Addrman{Addrman: out}}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 3 {
			bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
		}
		return msg, &partialError{fmt.Errorf("%w: %s", errModel, strings.Join(bad, "; "))}
	}
	return msg, nil
}

// bucketPosition parses getrawaddrman's "<bucket>/<position>" keys.
func bucketPosition(key string) (bucket, pos uint32, err error) {
	b, p, ok := strings.Cut(key, "/")
	if !ok {
		return 0, 0, errors.New("want <bucket>/<position>")
	}
	bv, err1 := strconv.ParseUint(b, 10, 32)
	pv, err2 := strconv.ParseUint(p, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return uint32(bv), uint32(pv), nil
}

// partialError reports entries that did not fit the model while the rest
// of the result did: the event is published and a model error counted.
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }
