package analyze

import (
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// BenchmarkEngine runs every analyzer over a realistic event mix (see
// realisticMix): target ≥ 200,000 events/s on one core.
func BenchmarkEngine(b *testing.B) {
	evs := realisticMix(b, 200_000, 42)
	var bytes int64
	for _, ev := range evs {
		bytes += int64(len(ev.Raw))
	}
	b.SetBytes(bytes / int64(len(evs)))
	b.ReportAllocs()
	e := newEngine(b, Options{Lists: testLists(b)})
	// The box may be busy with other work: also measure the CPU time of
	// this thread, which load does not inflate.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(evs)
		if j == 0 && i > 0 {
			b.StopTimer()
			e = newEngine(b, Options{Lists: testLists(b)})
			b.StartTimer()
		}
		e.Consume(evs[j])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(threadCPU()-cpu0).Seconds(), "events/cpu-s")
}

// bigEngine populates a registry the way a long-running mainnet node
// does: thousands of peers over time, hundreds of user agents, fee rates,
// misbehaving ids, ASNs, addrman ports and services, every command in
// every direction and connection type.
func bigEngine(b testing.TB) *Engine {
	e := newEngine(b, Options{Lists: testLists(b)})
	feed(b, e, everyGroup(b)...)
	feed(b, e, realisticMix(b, 20_000, 1)...)
	ms := T0 + 60_000
	commands := []string{"addr", "addrv2", "block", "blocktxn", "cmpctblock", "feefilter", "getaddr", "getblocks", "getblocktxn", "getdata", "getheaders",
		"headers", "inv", "mempool", "notfound", "ping", "pong", "sendaddrv2", "sendcmpct", "sendheaders", "sendtxrcncl", "tx", "verack", "version", "wtxidrelay"}
	for i := 0; i < 3000; i++ {
		p := peer{uint64(10_000 + i), fmt.Sprintf("10.%d.%d.%d:8333", i/65536, i/256%256, i%256), pb.ConnType(i % 5)}
		// Independent indexes, so every command meets every connection
		// type and direction.
		p.ct = pb.ConnType((i / len(commands)) % 5)
		cmd := commands[i%len(commands)]
		feed(b, e, msg(b, ms, p, cmd, (i/(5*len(commands)))%2 == 0, 100, nil))
		feed(b, e, msg(b, ms, p, "version", true, 100, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Version{Version: &pb.Version{UserAgent: proto.String(fmt.Sprintf("/Satoshi:%d.%d.0/", 20+i%10, i%400))}}
		}))
		feed(b, e, msg(b, ms, p, "feefilter", i%2 == 0, 8, func(m *pb.MessageEvent) {
			m.Msg = &pb.MessageEvent_Feefilter{Feefilter: &pb.FeeFilter{Fee: proto.Int64(int64(1000 + (i/2)%300))}}
		}))
		feed(b, e, misbehaving(b, ms, uint64(i%500), "invalid header received"))
		feed(b, e, inbound(b, ms, p, uint64(i%125)))
		feed(b, e, msg(b, ms, p, "ping", true, 0, func(m *pb.MessageEvent) { m.Msg = &pb.MessageEvent_Oldping{Oldping: true} }))
		ms++
	}
	infos := make([]*pb.PeerInfo, 125)
	for i := range infos {
		infos[i] = peerInfo(uint32(i), fmt.Sprintf("10.0.0.%d:8333", i), i > 10)
		infos[i].MappedAs = proto.Uint32(uint32(64000 + i))
		infos[i].Version = proto.Uint32(uint32(70000 + i%20))
	}
	feed(b, e, mk(b, ms, "", rpcEv(&pb.Rpc{RpcEvent: &pb.Rpc_PeerInfos{PeerInfos: &pb.PeerInfos{Infos: infos}}})))
	newT := map[uint32]string{}
	for i := uint32(0); i < 64; i++ {
		newT[i] = fmt.Sprintf("192.0.2.%d", i)
	}
	feed(b, e, addrmanSnapshot(b, ms, newT, newT))
	for c := range 29 {
		feed(b, e, unknownLog(b, ms, pb.LogDebugCategory(c), "x"))
	}
	return e
}

// BenchmarkScrape measures a scrape of a full registry (text format):
// target under 50 ms.
func BenchmarkScrape(b *testing.B) {
	e := bigEngine(b)
	mfs, _ := e.Gather()
	series := 0
	for _, mf := range mfs {
		series += len(mf.Metric)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/scrape")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
	b.ReportMetric(float64(series), "series")
}

// BenchmarkScrapeOpenMetrics is BenchmarkScrape in OpenMetrics.
func BenchmarkScrapeOpenMetrics(b *testing.B) {
	e := bigEngine(b)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.WriteOpenMetrics(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/scrape")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
}

// BenchmarkSampler measures the engine with an OpenMetrics sampler taking
// a sample every 15 s of event time, including writing the file.
func BenchmarkSampler(b *testing.B) {
	evs := realisticMix(b, 200_000, 43)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		e := newEngine(b, Options{})
		s, err := e.NewSampler(io.Discard, SamplerOptions{Interval: 15 * time.Second, TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			e.Consume(ev)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

var _ = event.Event{}

// threadCPU returns the CPU time the calling OS thread used (user and
// system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU returns the CPU time of the whole process, for work spread
// over goroutines (the registry collects in parallel).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
