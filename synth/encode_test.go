package synth

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// The hand encoder must produce exactly what the protobuf library does.
func TestLogEncodingMatchesProto(t *testing.T) {
	r := newRNG(1, 99)
	cases := []struct {
		ts, us uint64
		cat    pb.LogDebugCategory
		msg    string
	}{
		{0, 0, pb.LogDebugCategory_UNKNOWN, ""},
		{1, 1, pb.LogDebugCategory_NET, "x"},
		{1_772_409_600_123, 1_772_409_600_122_999, pb.LogDebugCategory_ZMQ, string(make([]byte, 300))},
		{math.MaxUint64, math.MaxUint64, pb.LogDebugCategory_VALIDATION, "BlockChecked: block hash=00 state=Valid"},
	}
	for range 200 {
		cases = append(cases, struct {
			ts, us uint64
			cat    pb.LogDebugCategory
			msg    string
		}{r.u64() >> r.intn(64), r.u64() >> r.intn(64), pb.LogDebugCategory(r.intn(29)), string(r.bytes(r.intn(400)))})
	}
	for _, c := range cases {
		want, err := event.Marshal(&pb.Event{Timestamp: proto.Uint64(c.ts), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: &pb.Log{
			LogTimestamp: proto.Uint64(c.us), Category: c.cat.Enum(),
			LogEvent: &pb.Log_UnknownLogMessage{UnknownLogMessage: &pb.UnknownLogMessage{RawMessage: proto.String(c.msg)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		got := appendLogEvent(nil, c.ts, c.us, c.cat, c.msg)
		if !bytes.Equal(got, want) {
			t.Fatalf("ts=%d us=%d cat=%v len(msg)=%d:\n got %x\nwant %x", c.ts, c.us, c.cat, len(c.msg), got, want)
		}
		if n := logEventSize(c.ts, c.us, c.cat, c.msg); n != len(want) {
			t.Fatalf("size %d, want %d", n, len(want))
		}
	}
}
