package log

import (
	"strings"
	"testing"

	"github.com/peertape/peertape/proto/pb"
)

func TestParseLine(t *testing.T) {
	const hash = "6022a9138d879a9d525dba16a0e7d85eda9874736c1aed5c8da0c23ee878db4f"
	for _, tc := range []struct {
		name string
		line string
		want Line
	}{
		{"plain", "2025-10-02T02:31:14Z Verification progress: 50%",
			Line{Parsed: true, Micros: 1759372274000000, Message: "Verification progress: 50%"}},
		{"category", "2025-10-02T02:31:21Z [net] Flushed 0 addresses to peers.dat  2ms",
			Line{Parsed: true, Micros: 1759372281000000, CategoryName: "net", Category: pb.LogDebugCategory_NET, Level: "debug", Message: "Flushed 0 addresses to peers.dat  2ms"}},
		{"thread, micros", "2025-12-23T22:38:01.977182Z [msghand] received: pong (8 bytes) peer=0",
			Line{Parsed: true, Micros: 1766529481977182, Thread: "msghand", Message: "received: pong (8 bytes) peer=0"}},
		{"thread and category", "2025-12-23T22:38:01.977182Z [msghand] [net] received: pong (8 bytes) peer=0",
			Line{Parsed: true, Micros: 1766529481977182, Thread: "msghand", CategoryName: "net", Category: pb.LogDebugCategory_NET, Level: "debug", Message: "received: pong (8 bytes) peer=0"}},
		{"all metadata", "2025-12-23T22:38:01.977182Z [msghand] [net_processing.cpp:3452] [ProcessMessage] [net] received: pong (8 bytes) peer=0",
			Line{Parsed: true, Micros: 1766529481977182, Thread: "msghand", SourceFile: "net_processing.cpp:3452", Function: "ProcessMessage",
				CategoryName: "net", Category: pb.LogDebugCategory_NET, Level: "debug", Message: "received: pong (8 bytes) peer=0"}},
		{"source location without thread", "2025-12-23T22:38:01Z [net_processing.cpp:1] [Foo] hello",
			Line{Parsed: true, Micros: 1766529481000000, SourceFile: "net_processing.cpp:1", Function: "Foo", Message: "hello"}},
		{"category:level", "2025-05-02T10:11:16.1Z [msghand] [net:warning] Misbehaving peer=17",
			Line{Parsed: true, Micros: 1746180676100000, Thread: "msghand", CategoryName: "net", Category: pb.LogDebugCategory_NET, Level: "warning", Message: "Misbehaving peer=17"}},
		{"standalone level", "2025-05-02T10:00:09Z [warning] Flushing large (5 GiB) UTXO set to disk",
			Line{Parsed: true, Micros: 1746180009000000, Level: "warning", Message: "Flushing large (5 GiB) UTXO set to disk"}},
		{"loglevelalways all:info", "2025-05-02T10:00:09Z [all:info] Bitcoin Core version v29.0.0",
			Line{Parsed: true, Micros: 1746180009000000, CategoryName: "all", Level: "info", Message: "Bitcoin Core version v29.0.0"}},
		{"category not in the enum", "2025-05-02T10:00:09Z [msghand] [lock] Enter: lock contention cs_main",
			Line{Parsed: true, Micros: 1746180009000000, Thread: "msghand", CategoryName: "lock", Level: "debug", Message: "Enter: lock contention cs_main"}},
		{"unknown bracket is the thread", "2025-05-02T10:00:09Z [This-Is-N0t-a-valid-category] Random message",
			Line{Parsed: true, Micros: 1746180009000000, Thread: "This-Is-N0t-a-valid-category", Message: "Random message"}},
		{"bracket with a space is message", "2025-05-02T10:00:11Z [default wallet] Releasing wallet",
			Line{Parsed: true, Micros: 1746180011000000, Message: "[default wallet] Releasing wallet"}},
		{"mocktime", "2025-05-02T10:20:04Z (mocktime: 2025-05-02T10:20:04Z) [net] sending ping (8 bytes) peer=21",
			Line{Parsed: true, Micros: 1746181204000000, CategoryName: "net", Category: pb.LogDebugCategory_NET, Level: "debug", Message: "sending ping (8 bytes) peer=21"}},
		{"impossible date keeps the rest", "2025-99-99T99:99:99.358911Z [validation] Random message",
			Line{Parsed: true, CategoryName: "validation", Category: pb.LogDebugCategory_VALIDATION, Level: "debug", Message: "Random message"}},
		{"broken timestamp", "2025--17T23:52:01.358911Z [validation] Random message",
			Line{Message: "2025--17T23:52:01.358911Z [validation] Random message"}},
		{"continuation line", " a continuation of the previous message", Line{Message: " a continuation of the previous message"}},
		{"empty", "", Line{}},
		{"CRLF", "2025-10-02T02:31:14Z hi\r\n", Line{Parsed: true, Micros: 1759372274000000, Message: "hi"}},
		{"nanoseconds", "2025-10-02T02:31:14.123456789Z x", Line{Parsed: true, Micros: 1759372274123456, Message: "x"}},
		{"timestamp only", "2025-10-02T02:31:14Z", Line{}},
		{"timestamp and space", "2025-10-02T02:31:14Z ", Line{Parsed: true, Micros: 1759372274000000}},
		{"no space after brackets", "2025-10-02T02:31:14Z [net]x", Line{Parsed: true, Micros: 1759372274000000, Message: "[net]x"}},
		{"block connected", "2025-09-27T01:52:01Z [validation] BlockConnected: block hash=" + hash + " block height=5",
			Line{Parsed: true, Micros: 1758937921000000, CategoryName: "validation", Category: pb.LogDebugCategory_VALIDATION, Level: "debug",
				Message: "BlockConnected: block hash=" + hash + " block height=5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "timestamp only" {
				tc.want = Line{Message: tc.line}
			}
			if got := ParseLine(tc.line); got != tc.want {
				t.Errorf("ParseLine(%q)\n got  %+v\n want %+v", tc.line, got, tc.want)
			}
		})
	}
}

// TestMatcherExamples runs every matcher's example lines through the whole
// line path: each must be recognised by its own matcher.
func TestMatcherExamples(t *testing.T) {
	names := map[string]bool{}
	for _, m := range Matchers {
		if names[m.Name] {
			t.Errorf("duplicate matcher %s", m.Name)
		}
		names[m.Name] = true
		if len(m.Examples) == 0 || m.Doc == "" || m.Keyword == "" {
			t.Errorf("matcher %s needs Doc, Keyword and Examples", m.Name)
		}
		for _, ex := range m.Examples {
			l := ParseLine(ex)
			if !l.Parsed || !strings.Contains(l.Message, m.Keyword) {
				t.Errorf("%s example does not parse or lacks the keyword: %q", m.Name, ex)
			}
			msg, got := ToLog(l)
			if got != m.Name {
				t.Errorf("%s example matched %q: %q", m.Name, got, ex)
			}
			if m.Category != pb.LogDebugCategory_UNKNOWN && msg.GetCategory() != m.Category {
				t.Errorf("%s example category %v", m.Name, msg.GetCategory())
			}
		}
	}
}

func TestBlockMatchers(t *testing.T) {
	const hash = "3909cd2a5ff36b9a40368609f92945e5b7111bca3cb4d04b72c39964aeb5d156"
	for _, tc := range []struct {
		msg, state, debug string
		mutated           bool
	}{
		{"BlockChecked: block hash=" + hash + " state=Valid", "Valid", "", false},
		{"BlockChecked: block hash=" + hash + " state=bad-txnmrklroot, hashMerkleRoot mismatch", "bad-txnmrklroot", "hashMerkleRoot mismatch", true},
		{"BlockChecked: block hash=" + hash + " state=bad-txns-duplicate, duplicate transaction", "bad-txns-duplicate", "duplicate transaction", true},
		{"BlockChecked: block hash=" + hash + " state=bad-witness-merkle-match, ContextualCheckBlock : witness merkle commitment mismatch", "bad-witness-merkle-match", "ContextualCheckBlock : witness merkle commitment mismatch", true},
		{"BlockChecked: block hash=" + hash + " state=unexpected-witness, ContextualCheckBlock : unexpected witness data found", "unexpected-witness", "ContextualCheckBlock : unexpected witness data found", true},
		{"BlockChecked: block hash=" + hash + " state=high-hash, proof of work failed", "high-hash", "proof of work failed", false},
		{"BlockChecked: block hash=" + hash + " state=bad-cb-amount, coinbase pays too much, actual=1 vs limit=0", "bad-cb-amount", "coinbase pays too much, actual=1 vs limit=0", false},
	} {
		msg, kind := ToLog(Line{Parsed: true, Message: tc.msg})
		bc := msg.GetBlockCheckedLog()
		if kind != "block_checked" || bc.GetBlockHash() != hash || bc.GetState() != tc.state || bc.GetDebugMessage() != tc.debug {
			t.Errorf("%q -> %s %v", tc.msg, kind, bc)
		}
		if MutatedStates[bc.GetState()] != tc.mutated {
			t.Errorf("state %s mutated=%v", bc.GetState(), !tc.mutated)
		}
	}
	for _, msg := range []string{
		"BlockConnected: block hash=" + hash + " block height=4294967296", // over uint32
		"BlockConnected: block hash=" + strings.ToUpper(hash) + " block height=1",
		"BlockConnected: block hash=abc block height=1",
	} {
		if _, kind := ToLog(Line{Parsed: true, Message: msg}); kind != "unknown" {
			t.Errorf("%q matched %s", msg, kind)
		}
	}
}

func TestParseCompactBlock(t *testing.T) {
	const h = "00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
	for _, tc := range []struct {
		msg  string
		want CompactBlockLog
	}{
		{"Successfully reconstructed block " + h + " with 1 txn prefilled, 3081 txn from mempool (incl at least 3 from extra pool) and 2 txn (1412 bytes) requested",
			CompactBlockLog{Kind: "cmpctblock_reconstructed", BlockHash: h, Prefilled: 1, FromMempool: 3081, FromExtraPool: 3, Requested: 2, RequestedBytes: 1412}},
		{"Successfully reconstructed block " + h + " with 1 txn prefilled, 3081 txn from mempool (incl at least 3 from extra pool) and 2 txn requested",
			CompactBlockLog{Kind: "cmpctblock_reconstructed", BlockHash: h, Prefilled: 1, FromMempool: 3081, FromExtraPool: 3, Requested: 2, RequestedBytes: -1}},
		{"Successfully reconstructed block " + h + " with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (1412 bytes)",
			CompactBlockLog{Kind: "cmpctblock_reconstructed", BlockHash: h, Prefilled: 1, PrefilledBytes: 252, FromMempool: 3078, MempoolBytes: 1280031,
				FromExtraPool: 3, ExtraPoolBytes: 1021, Requested: 2, RequestedBytes: 1412}},
		{"Initialized PartiallyDownloadedBlock for block " + h + " using a cmpctblock of size 14711",
			CompactBlockLog{Kind: "cmpctblock_init", BlockHash: h, CmpctBlockBytes: 14711}},
		{"Peer 43 sent us a GETBLOCKTXN for block " + h + ", sending a BLOCKTXN with 3083 txns. (1281149 bytes)",
			CompactBlockLog{Kind: "cmpctblock_blocktxn_served", BlockHash: h, Peer: 43, Txns: 3083, Bytes: 1281149}},
	} {
		got, ok := ParseCompactBlock(tc.msg)
		want := fillUnset(tc.want)
		if !ok || got != want {
			t.Errorf("ParseCompactBlock(%.60q)\n got  %+v\n want %+v", tc.msg, got, want)
		}
	}
	if _, ok := ParseCompactBlock("Successfully reconstructed block xyz"); ok {
		t.Error("a malformed line parsed")
	}
}

// fillUnset sets the numeric fields a case did not mention to -1.
func fillUnset(c CompactBlockLog) CompactBlockLog {
	for _, p := range []*int64{&c.CmpctBlockBytes, &c.Prefilled, &c.FromMempool, &c.FromExtraPool, &c.Requested, &c.PrefilledBytes,
		&c.MempoolBytes, &c.ExtraPoolBytes, &c.RequestedBytes, &c.Peer, &c.Txns, &c.Bytes, &c.RedundantPrefilled, &c.RedundantPrefilledBytes} {
		if *p == 0 {
			*p = -1
		}
	}
	return c
}

func TestUnparsedKeepsTheLine(t *testing.T) {
	msg, kind := ToLog(ParseLine("garbage \x00 that is not a log line"))
	if kind != "unparsed" || msg.GetLogTimestamp() != 0 || msg.GetCategory() != pb.LogDebugCategory_UNKNOWN ||
		msg.GetUnknownLogMessage().GetRawMessage() != "garbage \x00 that is not a log line" {
		t.Fatalf("%s %v", kind, msg)
	}
}
