package analyze

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

func TestOrphanage(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e, orphans(t, T0, orphan("a", 100, 1, 2), orphan("b", 200, 1)))
	m := scrape(t, e)
	check(t, m,
		// peer-observer counts the first poll as added; peertape does not.
		w("peerobserver_rpc_getorphantxs_added_count", 2),
		w("peerobserver_rpc_getorphantxs_added_bytes", 300),
		w("peerobserver_rpc_getorphantxs_count", 2),
		w("peerobserver_rpc_getorphantxs_from_max", 2),
		w("peerobserver_rpc_getorphantxs_from_min", 1),
		w("peerobserver_rpc_getorphantxs_from_mean", 1.5),
		w("peerobserver_rpc_getorphantxs_weight", 1200),
		w("peertape_orphanage_added_total", 0),
		w("peertape_orphanage_transactions", 2),
		w("peertape_orphanage_bytes", 300),
		w("peertape_orphanage_announcers", 2),
		w("peertape_orphanage_top_announcer_ratio", 1),
		w("peertape_orphanage_churn_per_hour", 0),
	)
	feed(t, e, orphans(t, T0+10_000, orphan("b", 200, 1), orphan("c", 50, 3), orphan("d", 50, 3)))
	check(t, scrape(t, e),
		w("peerobserver_rpc_getorphantxs_added_count", 4),
		w("peerobserver_rpc_getorphantxs_removed_count", 1),
		w("peerobserver_rpc_getorphantxs_removed_bytes", 100),
		w("peertape_orphanage_added_total", 2),
		w("peertape_orphanage_removed_total", 1),
		w("peertape_orphanage_churn_per_hour", 3),
		w("peertape_orphanage_announcers", 2),
		w("peertape_orphanage_top_announcer_ratio", 2.0/3),
	)
	feed(t, e, orphans(t, T0+20_000))
	check(t, scrape(t, e),
		w("peerobserver_rpc_getorphantxs_count", 0),
		w("peerobserver_rpc_getorphantxs_from_min", 0),
		w("peerobserver_rpc_getorphantxs_from_mean", 0),
		w("peertape_orphanage_top_announcer_ratio", 0),
		w("peertape_orphanage_removed_total", 4),
	)
}

func TestOrphanageBounded(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{MaxOrphans: 2}})
	feed(t, e, orphans(t, T0, orphan("a", 1), orphan("b", 1), orphan("c", 1)))
	check(t, scrape(t, e),
		w("peertape_state_evictions_total", 1, "state=orphans"),
		w("peertape_state_entries", 2, "state=orphans"),
		w("peertape_orphanage_transactions", 3),
	)
}

func TestAddrmanSnapshots(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e, addrmanSnapshot(t, T0, map[uint32]string{0: "192.0.2.1", 1: "192.0.2.2"}, map[uint32]string{0: "192.0.2.3"}))
	m := scrape(t, e)
	check(t, m,
		w("peerobserver_rpc_getrawaddrman_ports", 2, "table=new", "port=8333"),
		w("peerobserver_rpc_getrawaddrman_services", 2, "table=new", "service=9"),
		w("peerobserver_rpc_getrawaddrman_service_bits", 2, "table=new", "service_bit=1"),
		w("peerobserver_rpc_getrawaddrman_service_bits", 2, "table=new", "service_bit=4"),
		w("peerobserver_rpc_getrawaddrman_distinct_sources", 1, "table=tried"),
		w("peerobserver_rpc_getrawaddrman_distinct_asns", 1, "table=new"),
		w("peertape_addrman_entries", 2, "table=new"),
		w("peertape_addrman_entries", 1, "table=tried"),
		w("peertape_addrman_added_entries_total", 0, "table=new"),
	)
	absent(t, m, "peerobserver_rpc_getrawaddrman_added_entry", "table=new") // no diff for the first snapshot

	// Two minutes later: slot 1 replaced, slot 2 and 3 added, tried slot 0
	// kept with a new timestamp.
	feed(t, e, addrmanSnapshot(t, T0+120_000, map[uint32]string{0: "192.0.2.1", 1: "192.0.2.9", 2: "192.0.2.10", 3: "192.0.2.11"}, map[uint32]string{0: "192.0.2.3"}))
	check(t, scrape(t, e),
		w("peerobserver_rpc_getrawaddrman_added_entry", 2, "table=new"),
		w("peerobserver_rpc_getrawaddrman_replaced_entry", 1, "table=new"),
		// slot 0 of new kept its address but got a new timestamp too
		w("peerobserver_rpc_getrawaddrman_changed_timestamps", 1, "table=new"),
		w("peerobserver_rpc_getrawaddrman_changed_timestamps", 1, "table=tried"),
		w("peerobserver_rpc_getrawaddrman_changed_services", 0, "table=tried"),
		w("peertape_addrman_added_entries_total", 2, "table=new"),
		w("peertape_addrman_replaced_entries_total", 1, "table=new"),
		w("peertape_addrman_added_per_hour", 60, "table=new"),
		w("peertape_addrman_replaced_per_hour", 30, "table=new"),
		w("peertape_addrman_added_per_hour", 0, "table=tried"),
	)
}

func TestAddrmanBounded(t *testing.T) {
	e := newEngine(t, Options{Limits: Limits{MaxAddrmanEntries: 2}})
	feed(t, e,
		addrmanSnapshot(t, T0, map[uint32]string{0: "a", 1: "b", 2: "c"}, nil),
		addrmanSnapshot(t, T0+1000, map[uint32]string{0: "x", 1: "y", 2: "z"}, nil),
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_state_evictions_total", 2, "state=addrman"),
		w("peertape_state_entries", 0, "state=addrman"),
		w("peertape_addrman_entries", 3, "table=new"),
	)
	absent(t, m, "peerobserver_rpc_getrawaddrman_replaced_entry", "table=new")
}

func TestBlocks(t *testing.T) {
	e := newEngine(t, Options{})
	feed(t, e,
		mk(t, T0, "", ebpf(&pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{BlockConnected: &pb.BlockConnected{
			Hash: hash32(9), Height: proto.Int32(5), ConnectionTime: proto.Uint64(1_500_000_000)}}}}})),
		unknownLog(t, T0, pb.LogDebugCategory_CMPCTBLOCK, "Successfully reconstructed block 00000000000000000001083bc8296739b4a65f1264f69104a52f16962a24af5b with 1 txn prefilled, 3513 txn from mempool (incl at least 9 from extra pool) and 7 txn requested"),
		unknownLog(t, T0, pb.LogDebugCategory_CMPCTBLOCK, "Successfully reconstructed block 000000000000000000000fec9bd60e4700c173a61195b46527bda8861f6b1276 with 1 txn prefilled, 4105 txn from mempool (incl at least 0 from extra pool) and 0 txn (0 bytes) requested"),
		unknownLog(t, T0, pb.LogDebugCategory_CMPCTBLOCK, "Successfully reconstructed block xyz with many txn prefilled"),
		blockChecked(t, T0, "ab", "bad-witness-nonce-size"),
		blockChecked(t, T0, "ac", "bad-blk-sigops"), // invalid, not mutated
	)
	m := scrape(t, e)
	check(t, m,
		w("peertape_block_connection_seconds", 1),
		w("peertape_compact_block_reconstructions_total", 2),
		w("peertape_compact_block_transactions_total", 2, "source=prefilled"),
		w("peertape_compact_block_transactions_total", 7618, "source=mempool"),
		w("peertape_compact_block_transactions_total", 9, "source=extra_pool"),
		w("peertape_compact_block_transactions_total", 7, "source=requested"),
		w("peertape_compact_block_requested_transactions", 2),
		w("peertape_mutated_blocks_total", 1, "state=bad-witness-nonce-size"),
	)
	absent(t, m, "peertape_mutated_blocks_total", "state=bad-blk-sigops")
	for _, s := range m["peertape_block_connection_seconds"].Metric {
		if s.GetHistogram().GetSampleSum() != 1.5 {
			t.Errorf("block connection sum = %v, want 1.5", s.GetHistogram().GetSampleSum())
		}
	}
}

func TestParseReconstructed(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want reconstructed
	}{
		{"Successfully reconstructed block abc with 1 txn prefilled, 20 txn from mempool (incl at least 3 from extra pool) and 4 txn requested", true, reconstructed{"abc", 1, 20, 3, 4}},
		{"Successfully reconstructed block abc with 1 txn prefilled, 20 txn from mempool (incl at least 3 from extra pool) and 4 txn (512 bytes) requested", true, reconstructed{"abc", 1, 20, 3, 4}},
		{"Successfully reconstructed block abc with 1 txn prefilled, 20 txn from mempool (incl at least 3 from extra pool) and 4 txn requested\n", true, reconstructed{"abc", 1, 20, 3, 4}},
		{"Successfully reconstructed block abc with -1 txn prefilled, 2 txn from mempool (incl at least 3 from extra pool) and 4 txn requested", false, reconstructed{}},
		{"Successfully reconstructed block abc with 1 txn prefilled, 2 txn from mempool (incl at least 3 from extra pool) and 4 txn (x bytes) requested", false, reconstructed{}},
		{"Successfully reconstructed block abc with 1 txn prefilled, 2 txn from mempool", false, reconstructed{}},
		{"Successfully reconstructed block  with 1 txn prefilled, 2 txn from mempool (incl at least 3 from extra pool) and 4 txn requested", false, reconstructed{}},
		{"Successfully reconstructed block abc with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (1412 bytes)", true, reconstructed{"abc", 1, 3081, 3, 2}},
		{"Successfully reconstructed block abc with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (x bytes)", false, reconstructed{}},
		{"Successfully reconstructed block abc with 1 txn prefilled (252 bytes), 3078 txn from mempool (1280031 bytes), 3 txn from extrapool (1021 bytes), and 2 txn requested (1 bytes) more", false, reconstructed{}},
		{"Successfully reconstructed block abc with 1 txn prefilled, 2 txn from mempool (incl at least 3 from extra pool) and 4 txn requested", false, reconstructed{}},
		{"Initialized PartiallyDownloadedBlock for block abc using a cmpctblock of 1000 bytes", false, reconstructed{}},
	} {
		got, ok := parseReconstructed(tc.line)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseReconstructed(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
