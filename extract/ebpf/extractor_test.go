package ebpf

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/bpf"
	"github.com/peertape/peertape/bpf/bpftest"
	"github.com/peertape/peertape/bpf/usdt"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// expect reads the next event and compares it, field by field (proto.Equal
// over the whole message, timestamp apart), with want.
func expect(t *testing.T, r *running, before time.Time, want *pb.Ebpf, kind event.Kind, typ string) {
	t.Helper()
	ev := r.sink.next(t)
	after := time.Now()
	if ev.Kind != kind || ev.Type != typ || ev.Node != "test-node" {
		t.Errorf("event kind %v type %q node %q, want %v %q test-node", ev.Kind, ev.Type, ev.Node, kind, typ)
	}
	got, err := ev.Decode()
	if err != nil {
		t.Fatal(err)
	}
	// The probe's boot-clock time converted to Unix time must fall in the
	// window around the command (1 s slack: this checks the conversion,
	// not speed).
	if ts := int64(got.GetTimestamp()); ts < before.UnixMilli()-1000 || ts > after.UnixMilli()+1000 {
		t.Errorf("timestamp %d outside [%d, %d]", ts, before.UnixMilli(), after.UnixMilli())
	}
	if !proto.Equal(got.GetEbpfExtractor(), want) {
		t.Errorf("event mismatch\n got  %v\n want %v", got.GetEbpfExtractor(), want)
	}
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// TestExtractEvents attaches to fakecore, compiled with registers (-O2) and
// stack slots (-O0) as argument locations, fires every tracepoint with
// known values and checks each decoded event completely.
func TestExtractEvents(t *testing.T) {
	bpftest.Require(t)
	for _, opt := range []string{"-O2", "-O0"} {
		t.Run(opt, func(t *testing.T) {
			bin := bpftest.Binary(t, opt)
			fc := bpftest.Start(t, bin)
			logs := &lockedBuffer{}
			r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid, Node: "test-node", Logger: slog.New(slog.NewTextHandler(logs, nil))})
			fc.Wait(bpftest.Tracepoints...)
			r.attachedTo(t, fc.Pid)

			connTypes := []struct {
				s    string
				want pb.ConnType
			}{
				{"inbound", pb.ConnType_Inbound}, {"outbound-full-relay", pb.ConnType_OutboundFullRelay},
				{"block-relay-only", pb.ConnType_BlockRelayOnly}, {"feeler", pb.ConnType_OutboundFullRelay},
				{"manual", pb.ConnType_Unknown}, {"addr-fetch", pb.ConnType_Unknown},
			}
			addrs := []string{"203.0.113.7:8333", "[2001:db8::1]:18444",
				// TorV3 host with a 5-digit port: 68 characters, one more
				// than peer-observer's buffer keeps.
				"pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:65535"}

			cases := messageCases(t)
			big, bigWant := bigBlock(t, 3_000_000)
			cases = append(cases, msgCase{name: "3MB block", command: "block", payload: big, want: bigWant})
			decodeErrs := map[string]int{}
			for i, tc := range cases {
				ct, a := connTypes[i%len(connTypes)], addrs[i%len(addrs)]
				dir, inbound := "in", i%2 == 1 // the first, version, goes out: the node announcing itself
				if !inbound {
					dir = "out"
				}
				id := int64(i) + 1<<40
				before := time.Now()
				fc.Do("msg %s %d %s %s %s %s", dir, id, a, ct.s, tc.command, fc.Payload(tc.payload))
				msg := proto.Clone(tc.want).(*pb.MessageEvent)
				msg.Meta = &pb.Metadata{PeerId: proto.Uint64(uint64(id)), Addr: proto.String(a), ConnType: ct.want.Enum(),
					Command: proto.String(tc.command), Inbound: proto.Bool(inbound), Size: proto.Uint64(uint64(len(tc.payload)))}
				t.Run(tc.name, func(t *testing.T) {
					expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Message{Message: msg}}, event.NetMsg, tc.command)
				})
				if tc.decodeErr {
					decodeErrs[tc.command]++
				}
			}

			conn := func(id uint64, a string, ct pb.ConnType, network uint32) *pb.Connection {
				return &pb.Connection{PeerId: proto.Uint64(id), Addr: proto.String(a), ConnType: ct.Enum(), Network: proto.Uint32(network)}
			}
			for i, ct := range connTypes {
				a := addrs[i%len(addrs)]
				network := uint32(i % 7)
				before := time.Now()
				fc.Do("conn inbound %d %s %s %d %d", i, a, ct.s, network, 100+i)
				expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Inbound{
					Inbound: &pb.InboundConnection{Conn: conn(uint64(i), a, ct.want, network), ExistingConnections: proto.Uint64(uint64(100 + i))}}}}},
					event.NetConn, "inbound")
				before = time.Now()
				fc.Do("conn outbound %d %s %s %d %d", i+10, a, ct.s, network, 8+i)
				expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Outbound{
					Outbound: &pb.OutboundConnection{Conn: conn(uint64(i+10), a, ct.want, network), ExistingConnections: proto.Uint64(uint64(8 + i))}}}}},
					event.NetConn, "outbound")
				before = time.Now()
				fc.Do("conn closed %d %s %s %d %d", i+20, a, ct.s, network, 1_700_000_000+i)
				expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Closed{
					Closed: &pb.ClosedConnection{Conn: conn(uint64(i+20), a, ct.want, network), TimeEstablished: proto.Uint64(uint64(1_700_000_000 + i))}}}}},
					event.NetConn, "closed")
				before = time.Now()
				fc.Do("conn evicted %d %s %s %d %d", i+30, a, ct.s, network, 1_600_000_000+i)
				expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_InboundEvicted{
					InboundEvicted: &pb.EvictedInboundConnection{Conn: conn(uint64(i+30), a, ct.want, network), TimeEstablished: proto.Uint64(uint64(1_600_000_000 + i))}}}}},
					event.NetConn, "inbound_evicted")
			}
			long := strings.Repeat("x", 200) // longer than peer-observer's 127
			for _, m := range []string{"header with invalid proof of work", long} {
				before := time.Now()
				fc.Do("misbehaving 77 %s", m)
				expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{
					Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(77), Message: proto.String(m)}}}}}, event.NetConn, "misbehaving")
			}
			// Longer than the 255 characters the buffer holds: cut and counted.
			before := time.Now()
			fc.Do("misbehaving 78 %s", strings.Repeat("y", 300))
			expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Connection{Connection: &pb.ConnectionEvent{Event: &pb.ConnectionEvent_Misbehaving{
				Misbehaving: &pb.MisbehavingConnection{Id: proto.Uint64(78), Message: proto.String(strings.Repeat("y", 255))}}}}}, event.NetConn, "misbehaving")

			mp := func(m *pb.MempoolEvent) *pb.Ebpf { return &pb.Ebpf{EbpfEvent: &pb.Ebpf_Mempool{Mempool: m}} }
			before = time.Now()
			fc.Do("added %s 141 -5", hx(seq32(80)))
			expect(t, r, before, mp(&pb.MempoolEvent{Event: &pb.MempoolEvent_Added{Added: &pb.Added{Txid: seq32(80), Vsize: proto.Int32(141), Fee: proto.Int64(-5)}}}),
				event.Mempool, "added")
			for _, reason := range []string{"expiry", "sizelimit", "reorg", "block", "conflict", "replaced"} {
				before = time.Now()
				fc.Do("removed %s %s 250 2500 1700000500", hx(seq32(81)), reason)
				expect(t, r, before, mp(&pb.MempoolEvent{Event: &pb.MempoolEvent_Removed{Removed: &pb.Removed{Txid: seq32(81),
					Reason: proto.String(reason), Vsize: proto.Int32(250), Fee: proto.Int64(2500), EntryTime: proto.Uint64(1_700_000_500)}}}),
					event.Mempool, "removed")
			}
			for _, byTx := range []bool{true, false} {
				flag := 0
				if byTx {
					flag = 1
				}
				before = time.Now()
				fc.Do("replaced %s 200 1000 1700000600 %s 300 5000 %d", hx(seq32(82)), hx(seq32(83)), flag)
				expect(t, r, before, mp(&pb.MempoolEvent{Event: &pb.MempoolEvent_Replaced{Replaced: &pb.Replaced{
					ReplacedTxid: seq32(82), ReplacedVsize: proto.Int32(200), ReplacedFee: proto.Int64(1000),
					ReplacedEntryTime: proto.Uint64(1_700_000_600), ReplacementId: seq32(83), ReplacementVsize: proto.Int32(300),
					ReplacementFee: proto.Int64(5000), ReplacedByTransaction: proto.Bool(byTx)}}}), event.Mempool, "replaced")
			}
			reason := "min relay fee not met, 100 < 141 " + strings.Repeat("z", 84) // 118 characters, Core's documented maximum
			before = time.Now()
			fc.Do("rejected %s %s", hx(seq32(84)), reason)
			expect(t, r, before, mp(&pb.MempoolEvent{Event: &pb.MempoolEvent_Rejected{Rejected: &pb.Rejected{Txid: seq32(84), Reason: proto.String(reason)}}}),
				event.Mempool, "rejected")

			before = time.Now()
			fc.Do("block %s 880001 4321 9876 80000 1234567890123", hx(display(t, genesisHash)))
			expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
				BlockConnected: &pb.BlockConnected{Hash: display(t, genesisHash), Height: proto.Int32(880001), Transactions: proto.Int64(4321),
					Inputs: proto.Int32(9876), Sigops: proto.Int64(80000), ConnectionTime: proto.Uint64(1234567890123)}}}}},
				event.Validation, "block_connected")

			// Everything was counted, nothing lost.
			if got := r.metric(t, "peertape_ebpf_events_total", "tracepoint", "net:inbound_message") +
				r.metric(t, "peertape_ebpf_events_total", "tracepoint", "net:outbound_message"); int(got) != len(cases) {
				t.Errorf("events_total for messages = %v, want %d", got, len(cases))
			}
			for cmd, n := range decodeErrs {
				if got := r.metric(t, "peertape_ebpf_decode_errors_total", "command", cmd); int(got) != n {
					t.Errorf("decode_errors_total{command=%q} = %v, want %d", cmd, got, n)
				}
				// Counted and logged, never silent.
				if l := logs.String(); !strings.Contains(l, "P2P payload did not parse") || !strings.Contains(l, "command="+cmd) {
					t.Errorf("decode error of %s not logged:\n%s", cmd, l)
				}
			}
			if len(decodeErrs) == 0 {
				t.Error("no message case exercises a decode error")
			}
			if got := r.metric(t, "peertape_ebpf_truncated_strings_total", "tracepoint", "net:misbehaving_connection", "field", "reason"); got != 1 {
				t.Errorf("truncated_strings_total for the 300-character reason = %v, want 1", got)
			}
			if got := r.metric(t, "peertape_ebpf_truncated_strings_total", "tracepoint", "net:inbound_message", "field", "addr"); got != 0 {
				t.Errorf("68-character TorV3 address counted as truncated: %v", got)
			}
			r.x.updateClock() // no-op for the values; keeps the ticker path honest
			if got := r.metric(t, "peertape_ebpf_attached"); got != 1 {
				t.Errorf("attached = %v", got)
			}
			if got := r.metric(t, "peertape_ebpf_traced_pid"); int(got) != fc.Pid {
				t.Errorf("traced_pid = %v, want %d", got, fc.Pid)
			}
			// The node's own version message named the node.
			r.sink.mu.Lock()
			nodes := append([]event.NodeInfo(nil), r.sink.node...)
			r.sink.mu.Unlock()
			if len(nodes) != 1 || nodes[0].Implementation != "Bitcoin Core" || nodes[0].Version != "/Satoshi:29.0.0/" {
				t.Errorf("node info %+v, want one Bitcoin Core /Satoshi:29.0.0/", nodes)
			}
		})
	}
}

// TestGroupsDisabled checks that disabled groups are not attached: their
// semaphores stay down and their probes deliver nothing.
func TestGroupsDisabled(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, bin)
	r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid, Node: "test-node",
		Disable: []string{GroupP2PMessages, GroupConnections, GroupMempool}})
	fc.Wait("validation:block_connected")
	r.attachedTo(t, fc.Pid)
	if got := r.metric(t, "peertape_ebpf_probes_attached"); got != 1 {
		t.Errorf("probes_attached = %v, want 1", got)
	}
	// A disabled tracepoint's semaphore stays zero, so fakecore (like
	// Core) does not even evaluate its arguments.
	fc.Do("msg in 1 1.2.3.4:1 inbound ping %s", fc.Payload(le64(1)))
	fc.Do("added %s 1 1", hx(seq32(1)))
	before := time.Now()
	fc.Do("block %s 1 1 1 1 1", hx(seq32(2)))
	expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
		BlockConnected: &pb.BlockConnected{Hash: seq32(2), Height: proto.Int32(1), Transactions: proto.Int64(1),
			Inputs: proto.Int32(1), Sigops: proto.Int64(1), ConnectionTime: proto.Uint64(1)}}}}}, event.Validation, "block_connected")
	if n := len(r.sink.ch); n != 0 {
		t.Errorf("%d events from disabled groups", n)
	}
}

// TestFollowRestart runs the extractor on a pid file: fakecore exits and
// starts again (a new pid), and the extractor re-attaches by itself and
// keeps delivering, reporting the downtime as a gap.
func TestFollowRestart(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	pidFile := filepath.Join(t.TempDir(), "bitcoind.pid")
	logs := &lockedBuffer{}
	r := startExtractor(t, Options{BinaryPath: bin, PIDFile: pidFile, Node: "test-node", Logger: slog.New(slog.NewTextHandler(logs, nil))})

	block := func(fc *bpftest.FakeCore, height int) {
		t.Helper()
		before := time.Now()
		fc.Do("block %s %d 1 2 3 4", hx(seq32(byte(height))), height)
		expect(t, r, before, &pb.Ebpf{EbpfEvent: &pb.Ebpf_Validation{Validation: &pb.ValidationEvent{Event: &pb.ValidationEvent_BlockConnected{
			BlockConnected: &pb.BlockConnected{Hash: seq32(byte(height)), Height: proto.Int32(int32(height)), Transactions: proto.Int64(1),
				Inputs: proto.Int32(2), Sigops: proto.Int64(3), ConnectionTime: proto.Uint64(4)}}}}}, event.Validation, "block_connected")
	}
	var pids []int
	for i := range 3 {
		fc := bpftest.Start(t, bin)
		pids = append(pids, fc.Pid)
		if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", fc.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		fc.Wait("validation:block_connected", "net:inbound_message")
		r.attachedTo(t, fc.Pid)
		block(fc, 100+i)
		fc.Exit()
		// The stale pid file names a dead process until the next start.
		waitFor(t, "detach after exit", func() bool { return r.metric(t, "peertape_ebpf_attached") == 0 })
		if i == 1 {
			// After a crash the pid in the file may be reused by another
			// program: the extractor keeps waiting instead of attaching
			// to it or giving up (the next start must still attach).
			other := exec.Command("sleep", "60")
			if err := other.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Process.Kill(); other.Wait() })
			if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", other.Process.Pid)), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the extractor to look at the reused pid", func() bool {
				return strings.Contains(logs.String(), fmt.Sprintf("pid %d runs ", other.Process.Pid))
			})
		}
	}
	if got := r.metric(t, "peertape_ebpf_attaches_total"); got != 3 {
		t.Errorf("attaches_total = %v, want 3 (pids %v)", got, pids)
	}
	r.sink.mu.Lock()
	gaps := len(r.sink.gaps)
	r.sink.mu.Unlock()
	if gaps != 2 {
		t.Errorf("%d gaps, want one per restart (2)", gaps)
	}
}

// TestPIDExit: with a fixed pid the extractor cannot follow a restart and
// says so.
func TestPIDExit(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, bin)
	r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid})
	fc.Wait("net:inbound_message")
	r.attachedTo(t, fc.Pid)
	fc.Exit()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if !errors.Is(err, ErrProcessExited) {
			t.Fatalf("Run = %v, want ErrProcessExited", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the process exited")
	}
}

// TestRequirementErrors checks the error for each wrong setup the
// extractor can detect before attaching.
func TestRequirementErrors(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	plain, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) binary")
	}
	for _, tc := range []struct {
		name string
		o    Options
		is   error
		msg  string
	}{
		{"no USDT notes", Options{BinaryPath: plain, PID: sleep.Process.Pid}, usdt.ErrNoProbes, "USDT support"},
		{"wrong pid", Options{BinaryPath: bin, PID: sleep.Process.Pid}, nil, "runs " + sleep.Path},
		{"no such pid", Options{BinaryPath: bin, PID: 1 << 22}, nil, "no running process with pid"},
		{"missing binary", Options{BinaryPath: "/nonexistent/bitcoind", PID: 1}, os.ErrNotExist, "bitcoind binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			err = x.Run(context.Background(), newCollector())
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Run = %v, want an error containing %q (is %v)", err, tc.msg, tc.is)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o   Options
		msg string
	}{
		{Options{PID: 1}, "binary path is required"},
		{Options{BinaryPath: "x"}, "exactly one of a pid and a pid file"},
		{Options{BinaryPath: "x", PID: 1, PIDFile: "f"}, "exactly one"},
		{Options{BinaryPath: "x", PID: -3}, "not a process id"},
		{Options{BinaryPath: "x", PID: 1, Disable: []string{"bogus"}}, `unknown tracepoint group "bogus"`},
		{Options{BinaryPath: "x", PID: 1, Disable: []string{GroupP2PMessages, GroupConnections, GroupMempool, GroupValidation}}, "every tracepoint group is disabled"},
		{Options{BinaryPath: "x", PID: 1, BigRingSize: 1 << 20}, "big ring buffer"},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.msg)
		}
	}
	if got := Tracepoints(GroupMempool); strings.Join(got, ",") != "mempool:added,mempool:removed,mempool:replaced,mempool:rejected" {
		t.Errorf("Tracepoints(mempool) = %v", got)
	}
	_ = bpf.MaxSpecs
}

// TestRingFullCounted overflows a small ring buffer on purpose (the
// reader is not woken and looks only every 300 ms) and checks that every
// message is accounted for, the overflow as lost_total{reason="ring_full"}
// and as a gap with the dropped count.
func TestRingFullCounted(t *testing.T) {
	bpftest.Require(t)
	bin := bpftest.Binary(t, "-O2")
	fc := bpftest.Start(t, bin)
	const ring = 256 << 10
	logs := &lockedBuffer{}
	r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid, Node: "test-node", Logger: slog.New(slog.NewTextHandler(logs, nil)),
		EventsRingSize: ring, WakeupBytes: ring, MaxDelay: 300 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	fc.Wait("net:inbound_message")
	r.attachedTo(t, fc.Pid)
	const n = 5000 // about 2 MB of records for a 256 KiB ring
	fc.Do("load %d 1 in ping=%s", n, fc.Payload(le64(1)))
	var delivered int
	lost := func() int {
		return int(r.metric(t, "peertape_ebpf_lost_total", "tracepoint", "net:inbound_message", "reason", "ring_full"))
	}
	waitFor(t, "every message accounted for", func() bool {
		for len(r.sink.ch) > 0 {
			<-r.sink.ch
			delivered++
		}
		return delivered+lost() == n
	})
	if lost() == 0 || delivered == 0 {
		t.Fatalf("delivered %d, lost %d: want both", delivered, lost())
	}
	waitFor(t, "a gap for the loss", func() bool {
		r.sink.mu.Lock()
		defer r.sink.mu.Unlock()
		var dropped uint64
		for _, g := range r.sink.gaps {
			dropped += g.GetDropped()
		}
		return dropped == uint64(lost())
	})
	// Never silent: the loss is also logged, with what was lost.
	if l := logs.String(); !strings.Contains(l, `msg="probe hits lost in BPF"`) || !strings.Contains(l, "net:inbound_message ring_full") {
		t.Errorf("ring-buffer loss not logged:\n%s", l)
	}
}

// lockedBuffer collects the extractor's log for assertions.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
