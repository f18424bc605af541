package sanitize

import (
	"net/netip"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/proto/pb"
)

// The leak checker does not mistake chance for a leak on large archives:
// short IPv6 text forms inside hashes ("f::" is three bytes), and 4-byte
// windows of pseudonyms inside rewritten address payloads. Real addresses
// in those places are still found.
func TestCheckIgnoresChance(t *testing.T) {
	v4 := netip.MustParseAddr(v4a).As4()
	shortV6 := []byte("\x01\x02f::\x00\x03") // "f::" between non-word bytes
	origs := []*pb.Event{
		// A txid holding "f::", and an address in a string elsewhere.
		ebpfMsg(ts0, v4a+":8333", "inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: append(make([]byte, 26), shortV6...)}}}}}}),
		logEv(ts0, &pb.Log{LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String("bind [" + v6a + "]:8333")}}}),
	}
	set := NewAddressSet()
	for _, m := range origs {
		if err := set.Add(build(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := set.ips[netip.MustParseAddr("f::")]; ok {
		t.Fatal("collected f:: from a hash")
	}
	// A sanitized event whose addrv2 payload carries a Tor v3 pseudonym
	// that happens to contain the bytes of v4a, and a hash with "f::".
	key := append(append(make([]byte, 10), v4[:]...), make([]byte, 18)...)
	payload := append([]byte{2}, addrV2Entry(1, 4, key, 8333)...)
	payload = append(payload, addrV2Entry(1, 1, netip.MustParseAddr("9.9.9.9").AsSlice(), 8333)...)
	clean := build(t, ebpfMsg(ts0, "48.94.103.215:8333", "addrv2", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("addrv2"), Payload: payload}}}))
	if leaks, err := set.Check(1, clean); err != nil || len(leaks) != 0 {
		t.Fatalf("chance reported as leaks: %v %v", leaks, err)
	}
	hash := build(t, ebpfMsg(ts0, "48.94.103.215:8333", "inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: append(make([]byte, 26), shortV6...)}}}}}}))
	if leaks, _ := set.Check(2, hash); len(leaks) != 0 {
		t.Fatalf("hash reported as leak: %v", leaks)
	}
	// The same payload with v4a as an IPv4 entry is a leak, found where
	// it is; so is the full IPv6 form written into bytes.
	leaky := append([]byte{1}, addrV2Entry(1, 1, v4[:], 8333)...)
	ev := build(t, ebpfMsg(ts0, "48.94.103.215:8333", "addrv2", &pb.MessageEvent{Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("addrv2"), Payload: leaky}}}))
	leaks, _ := set.Check(3, ev)
	if len(leaks) != 1 || leaks[0].Address != v4a || leaks[0].Form != "binary" || leaks[0].Path != "ebpf_extractor.message.unknown.payload" {
		t.Fatalf("leaks %v", leaks)
	}
	ev = build(t, ebpfMsg(ts0, "48.94.103.215:8333", "inv", &pb.MessageEvent{Msg: &pb.MessageEvent_Inv{Inv: &pb.Inv{Items: []*pb.InventoryItem{{Item: &pb.InventoryItem_Wtx{Wtx: []byte("x " + v6a + " y")}}}}}}))
	if leaks, _ := set.Check(4, ev); len(leaks) != 1 || leaks[0].Address != v6a {
		t.Fatalf("IPv6 text in bytes: %v", leaks)
	}
}
