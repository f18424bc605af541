package ebpf

import (
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf/bpftest"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// TestSizeClasses fires messages at both sides of every payload size
// class through the probes, up to Core's 4,000,000-byte limit and the
// largest class (4 MiB): each arrives whole, byte for byte. One byte more
// than the largest class cannot be carried: it is counted as oversized
// and logged, not published cut.
func TestSizeClasses(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, bin)
	r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid, Node: "test-node"})
	fc.Wait("net:inbound_message")
	r.attachedTo(t, fc.Pid)
	rng := rand.New(rand.NewPCG(1, 2))
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var sizes []int
	for _, c := range []int{256, 4096, 65536, 1 << 20} {
		sizes = append(sizes, c-1, c, c+1)
	}
	sizes = append(sizes, 0, 1, 4_000_000, 4<<20)
	for i, n := range sizes {
		p := payload(n)
		before := time.Now()
		fc.Do("msg in %d 203.0.113.9:8333 inbound sizetest %s", i, fc.Payload(p))
		expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
			Meta: &pb.Metadata{PeerId: proto.Uint64(uint64(i)), Addr: proto.String("203.0.113.9:8333"), ConnType: pb.ConnType_Inbound.Enum(),
				Command: proto.String("sizetest"), Inbound: proto.Bool(true), Size: proto.Uint64(uint64(n))},
			Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("sizetest"), Payload: p}}}}}, event.NetMsg, "sizetest")
	}
	fc.Do("msg in 99 203.0.113.9:8333 inbound sizetest %s", fc.Payload(payload(4<<20+1)))
	waitFor(t, "the oversized message counted", func() bool {
		return r.metric(t, "peertape_ebpf_record_errors_total", "tracepoint", "net:inbound_message", "reason", "oversized") == 1
	})
	// Still attached and delivering after it.
	before := time.Now()
	fc.Do("msg in 100 203.0.113.9:8333 inbound sizetest %s", fc.Payload([]byte{7}))
	expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: &pb.MessageEvent{
		Meta: &pb.Metadata{PeerId: proto.Uint64(100), Addr: proto.String("203.0.113.9:8333"), ConnType: pb.ConnType_Inbound.Enum(),
			Command: proto.String("sizetest"), Inbound: proto.Bool(true), Size: proto.Uint64(1)},
		Msg: &pb.MessageEvent_Unknown{Unknown: &pb.Unknown{Command: proto.String("sizetest"), Payload: []byte{7}}}}}}, event.NetMsg, "sizetest")
	if n := len(r.sink.ch); n != 0 {
		t.Errorf("%d unexpected events (the oversized message published?)", n)
	}
}
