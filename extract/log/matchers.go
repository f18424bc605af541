package log

import (
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// Matcher recognises one kind of debug.log message. Matchers are tried in
// table order on the message text (after timestamp and brackets); the
// first that matches decides the event. To add one: append an entry with
// its Core format string(s) in Doc and at least one real line in Examples
// (TestMatcherExamples runs them all).
type Matcher struct {
	// Name identifies the matcher in metrics and tests.
	Name string
	// Doc names the Core source and format string the matcher follows.
	Doc string
	// Keyword is a substring every matching message contains; it keeps
	// the regular expressions off the vast majority of lines.
	Keyword string
	// Match sets l's log event from msg and reports whether it matched.
	Match func(msg string, l *pb.Log) bool
	// Category, when not UNKNOWN, is what a matched line's category is set
	// to if its bracket did not say (for lines printed without one).
	Category pb.LogDebugCategory
	// Examples are whole debug.log lines this matcher must match.
	Examples []string
}

const hexHash = `([0-9a-f]{64})`

var (
	reBlockConnected = regexp.MustCompile(`BlockConnected: block hash=` + hexHash + ` block height=(\d+)`)
	reBlockChecked   = regexp.MustCompile(`BlockChecked: block hash=` + hexHash + ` state=(.*)$`)
)

// Matchers is the table. The first two are peer-observer's (with its proto
// arms); the compact-block lines have no arm in peer-observer's schema, so
// they become UnknownLogMessage with category CMPCTBLOCK and analyzers read
// their numbers with ParseCompactBlock.
var Matchers = []Matcher{
	{
		Name:    "block_connected",
		Doc:     `validationinterface.cpp: LOG_EVENT("%s: block hash=%s block height=%d", "BlockConnected", ...), also logged as "Enqueuing BlockConnected: ..." when queued (-debug=validation)`,
		Keyword: "BlockConnected: block hash=",
		Match: func(msg string, l *pb.Log) bool {
			m := reBlockConnected.FindStringSubmatch(msg)
			if m == nil {
				return false
			}
			h, err := strconv.ParseUint(m[2], 10, 32)
			if err != nil {
				return false
			}
			l.LogEvent = &pb.Log_BlockConnectedLog{BlockConnectedLog: &pb.BlockConnectedLog{BlockHash: proto.String(m[1]), BlockHeight: proto.Uint32(uint32(h))}}
			return true
		},
		Examples: []string{
			"2025-09-27T01:52:01Z [validation] BlockConnected: block hash=6022a9138d879a9d525dba16a0e7d85eda9874736c1aed5c8da0c23ee878db4f block height=5",
			"2025-09-27T01:52:01Z [validation] Enqueuing BlockConnected: block hash=41109f31c8ca4d8683ab5571ba462292ddb8486dee6ecd2e62901accc7952f0b block height=437",
			"2025-12-23T22:38:01.977182Z [scheduler] [validationinterface.cpp:217] [BlockConnected] [validation] BlockConnected: block hash=41109f31c8ca4d8683ab5571ba462292ddb8486dee6ecd2e62901accc7952f0b block height=437",
		},
	},
	{
		Name:    "block_checked",
		Doc:     `validationinterface.cpp: LOG_EVENT("%s: block hash=%s state=%s", "BlockChecked", ...); the state is ValidationState::ToString(): "Valid", a reject reason, or "reason, debug message"`,
		Keyword: "BlockChecked: block hash=",
		Match: func(msg string, l *pb.Log) bool {
			m := reBlockChecked.FindStringSubmatch(msg)
			if m == nil {
				return false
			}
			state, debug, _ := strings.Cut(m[2], ", ")
			l.LogEvent = &pb.Log_BlockCheckedLog{BlockCheckedLog: &pb.BlockCheckedLog{BlockHash: proto.String(m[1]), State: proto.String(state), DebugMessage: proto.String(debug)}}
			return true
		},
		Examples: []string{
			"2025-10-28T02:18:37Z [validation] BlockChecked: block hash=3909cd2a5ff36b9a40368609f92945e5b7111bca3cb4d04b72c39964aeb5d156 state=Valid",
			"2025-10-28T02:18:37.000231Z [msghand] [validation] BlockChecked: block hash=3909cd2a5ff36b9a40368609f92945e5b7111bca3cb4d04b72c39964aeb5d156 state=bad-txnmrklroot, hashMerkleRoot mismatch",
			"2025-10-28T02:18:37Z [validation] BlockChecked: block hash=3909cd2a5ff36b9a40368609f92945e5b7111bca3cb4d04b72c39964aeb5d156 state=bad-witness-nonce-size, CheckWitnessMalleation : invalid witness reserved value size",
		},
	},
	cmpctMatcher("cmpctblock_init",
		`blockencodings.cpp PartiallyDownloadedBlock::InitData: "Initializing PartiallyDownloadedBlock for block %s using a cmpctblock of %u bytes" (2026), "Initialized PartiallyDownloadedBlock for block %s using a cmpctblock of %u bytes" (v28+), "... cmpctblock of size %lu" (before)`,
		"PartiallyDownloadedBlock for block",
		"2025-05-02T10:11:12.345678Z [cmpctblock] Initialized PartiallyDownloadedBlock for block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 using a cmpctblock of 14711 bytes",
		"2023-05-02T10:11:12Z [cmpctblock] Initialized PartiallyDownloadedBlock for block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 using a cmpctblock of size 14711",
		"2026-01-07T15:41:31.606100Z [cmpctblock] Initializing PartiallyDownloadedBlock for block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 using a cmpctblock of 14711 bytes",
	),
	cmpctMatcher("cmpctblock_reconstructed",
		`blockencodings.cpp PartiallyDownloadedBlock::FillBlock: "Successfully reconstructed block %s with %u txn prefilled, %u txn from mempool (incl at least %u from extra pool) and %u txn (%u bytes) requested" (v28-v30); without "(%u bytes)" before; 2026 master: "... with %u txn prefilled (%u bytes), %u txn from mempool (%u bytes), %u txn from extrapool (%u bytes), and %u txn requested (%u bytes)"`,
		"Successfully reconstructed block",
		"2025-05-02T10:11:12.401211Z [cmpctblock] Successfully reconstructed block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 with 1 txn prefilled, 3081 txn from mempool (incl at least 3 from extra pool) and 2 txn (1412 bytes) requested",
		"2023-05-02T10:11:12Z [cmpctblock] Successfully reconstructed block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 with 1 txn prefilled, 3081 txn from mempool (incl at least 3 from extra pool) and 2 txn requested",
		"2026-01-07T15:41:31.706100Z [cmpctblock] Successfully reconstructed block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (1412 bytes)",
	),
	cmpctMatcher("cmpctblock_required_tx",
		`blockencodings.cpp PartiallyDownloadedBlock::FillBlock: "Reconstructed block %s required tx %s" (one line per requested tx, when fewer than 5)`,
		"required tx",
		"2025-05-02T10:11:12.401300Z [cmpctblock] Reconstructed block 00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7 required tx bc6ccd2fd191f335af4a314f92955574a59388bc1f09dabbf562c7f45ee6db55",
	),
	cmpctMatcher("cmpctblock_prefill_redundant",
		`blockencodings.cpp PartiallyDownloadedBlock::FillBlock (2026 master): "%u txn (%u bytes) of the prefill were redundant, %u txn (%u bytes) were present in the mempool, %u txn (%u bytes) were present in the extrapool. "`,
		"of the prefill were redundant",
		"2026-01-07T15:41:31.706200Z [cmpctblock] 0 txn (0 bytes) of the prefill were redundant, 0 txn (0 bytes) were present in the mempool, 0 txn (0 bytes) were present in the extrapool. ",
	),
	cmpctMatcher("cmpctblock_blocktxn_served",
		`net_processing.cpp: "Peer %d sent us a GETBLOCKTXN for block %s, sending a BLOCKTXN with %u txns. (%u bytes)"`,
		"sent us a GETBLOCKTXN",
		"2026-01-07T15:41:31.606100Z [cmpctblock] Peer 43 sent us a GETBLOCKTXN for block 00000000000000000000793c9c81354b796e2d8e135a6fb583ef6fbc97ff9850, sending a BLOCKTXN with 3083 txns. (1281149 bytes)",
	),
}

// cmpctMatcher builds a matcher for a compact-block line: it keeps the
// message as UnknownLogMessage (no proto arm exists) and marks the line
// CMPCTBLOCK; ParseCompactBlock gives analyzers its numbers.
func cmpctMatcher(name, doc, keyword string, examples ...string) Matcher {
	return Matcher{
		Name: name, Doc: doc, Keyword: keyword, Category: pb.LogDebugCategory_CMPCTBLOCK, Examples: examples,
		Match: func(msg string, l *pb.Log) bool {
			cb, ok := ParseCompactBlock(msg)
			if !ok || cb.Kind != name {
				return false
			}
			l.LogEvent = &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(msg)}}
			return true
		},
	}
}

// CompactBlockLog holds the numbers of one compact-block debug.log line.
// Fields a line does not carry are -1.
type CompactBlockLog struct {
	// Kind is the matcher name: cmpctblock_init, cmpctblock_reconstructed,
	// cmpctblock_required_tx, cmpctblock_prefill_redundant,
	// cmpctblock_blocktxn_served.
	Kind string
	// BlockHash is display-order hex ("" for prefill_redundant).
	BlockHash string
	// init: size of the cmpctblock message.
	CmpctBlockBytes int64
	// reconstructed: transactions prefilled, found in the mempool, of
	// those (or additionally, in 2026's format) from the extra pool, and
	// requested with getblocktxn, plus the sizes the format gives.
	Prefilled, FromMempool, FromExtraPool, Requested             int64
	PrefilledBytes, MempoolBytes, ExtraPoolBytes, RequestedBytes int64
	// required_tx: the requested transaction.
	TxID string
	// blocktxn_served: the asking peer and what was sent.
	Peer, Txns, Bytes int64
	// prefill_redundant: redundant prefilled transactions.
	RedundantPrefilled, RedundantPrefilledBytes int64
}

var (
	reCmpctInit      = regexp.MustCompile(`^Initiali(?:zed|zing) PartiallyDownloadedBlock for block ` + hexHash + ` using a cmpctblock of (?:size (\d+)|(\d+) bytes)`)
	reCmpctRecon     = regexp.MustCompile(`^Successfully reconstructed block ` + hexHash + ` with (\d+) txn prefilled, (\d+) txn from mempool \(incl at least (\d+) from extra pool\) and (\d+) txn (?:\((\d+) bytes\) )?requested`)
	reCmpctRecon26   = regexp.MustCompile(`^Successfully reconstructed block ` + hexHash + ` with (\d+) txn prefilled \((\d+) bytes\), (\d+) txn from mempool \((\d+) bytes\), (\d+) txn from extrapool \((\d+) bytes\), and (\d+) txn requested \((\d+) bytes\)`)
	reCmpctReq       = regexp.MustCompile(`^Reconstructed block ` + hexHash + ` required tx ` + hexHash)
	reCmpctRedundant = regexp.MustCompile(`^(\d+) txn \((\d+) bytes\) of the prefill were redundant`)
	reCmpctServed    = regexp.MustCompile(`^Peer (\d+) sent us a GETBLOCKTXN for block ` + hexHash + `, sending a BLOCKTXN with (\d+) txns\. \((\d+) bytes\)`)
)

// ParseCompactBlock reads a compact-block message (the raw_message of a
// CMPCTBLOCK UnknownLogMessage) in any of the formats Core used.
func ParseCompactBlock(msg string) (CompactBlockLog, bool) {
	cb := CompactBlockLog{CmpctBlockBytes: -1, Prefilled: -1, FromMempool: -1, FromExtraPool: -1, Requested: -1,
		PrefilledBytes: -1, MempoolBytes: -1, ExtraPoolBytes: -1, RequestedBytes: -1, Peer: -1, Txns: -1, Bytes: -1,
		RedundantPrefilled: -1, RedundantPrefilledBytes: -1}
	n := func(s string) int64 {
		if s == "" {
			return -1
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return -1
		}
		return v
	}
	switch {
	case strings.HasPrefix(msg, "Initiali"):
		m := reCmpctInit.FindStringSubmatch(msg)
		if m == nil {
			return cb, false
		}
		cb.Kind, cb.BlockHash = "cmpctblock_init", m[1]
		cb.CmpctBlockBytes = max(n(m[2]), n(m[3]))
	case strings.HasPrefix(msg, "Successfully reconstructed block"):
		if m := reCmpctRecon.FindStringSubmatch(msg); m != nil {
			cb.Kind, cb.BlockHash = "cmpctblock_reconstructed", m[1]
			cb.Prefilled, cb.FromMempool, cb.FromExtraPool, cb.Requested, cb.RequestedBytes = n(m[2]), n(m[3]), n(m[4]), n(m[5]), n(m[6])
		} else if m := reCmpctRecon26.FindStringSubmatch(msg); m != nil {
			cb.Kind, cb.BlockHash = "cmpctblock_reconstructed", m[1]
			cb.Prefilled, cb.PrefilledBytes, cb.FromMempool, cb.MempoolBytes = n(m[2]), n(m[3]), n(m[4]), n(m[5])
			cb.FromExtraPool, cb.ExtraPoolBytes, cb.Requested, cb.RequestedBytes = n(m[6]), n(m[7]), n(m[8]), n(m[9])
		} else {
			return cb, false
		}
	case strings.HasPrefix(msg, "Reconstructed block"):
		m := reCmpctReq.FindStringSubmatch(msg)
		if m == nil {
			return cb, false
		}
		cb.Kind, cb.BlockHash, cb.TxID = "cmpctblock_required_tx", m[1], m[2]
	case strings.HasPrefix(msg, "Peer "):
		m := reCmpctServed.FindStringSubmatch(msg)
		if m == nil {
			return cb, false
		}
		cb.Kind, cb.Peer, cb.BlockHash, cb.Txns, cb.Bytes = "cmpctblock_blocktxn_served", n(m[1]), m[2], n(m[3]), n(m[4])
	default:
		m := reCmpctRedundant.FindStringSubmatch(msg)
		if m == nil {
			return cb, false
		}
		cb.Kind, cb.RedundantPrefilled, cb.RedundantPrefilledBytes = "cmpctblock_prefill_redundant", n(m[1]), n(m[2])
	}
	return cb, true
}

// MutatedStates are the BlockChecked states peer-observer's metrics count
// as mutated blocks.
var MutatedStates = map[string]bool{
	"bad-txnmrklroot": true, "bad-txns-duplicate": true, "bad-witness-nonce-size": true,
	"bad-witness-merkle-match": true, "unexpected-witness": true,
}

// ToLog turns a parsed line into peer-observer's log message, running the
// matchers. A line without the grammar keeps its whole text as an
// UnknownLogMessage (peer-observer publishes an empty one), so nothing is
// lost.
func ToLog(l Line) (*pb.Log, string) {
	out := &pb.Log{LogTimestamp: proto.Uint64(l.Micros), Category: l.Category.Enum()}
	if l.Thread != "" {
		out.Threadname = proto.String(l.Thread)
	}
	if l.Parsed {
		for i := range Matchers {
			m := &Matchers[i]
			if !strings.Contains(l.Message, m.Keyword) || !m.Match(l.Message, out) {
				continue
			}
			if out.GetCategory() == pb.LogDebugCategory_UNKNOWN && m.Category != pb.LogDebugCategory_UNKNOWN {
				out.Category = m.Category.Enum()
			}
			return out, m.Name
		}
	}
	out.LogEvent = &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(l.Message)}}
	if !l.Parsed {
		return out, "unparsed"
	}
	return out, "unknown"
}
