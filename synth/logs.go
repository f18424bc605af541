package synth

import (
	"fmt"

	"github.com/peertape/peertape/proto/pb"
)

// The simulated node runs with -debug=net,mempool,mempoolrej,validation,
// cmpctblock,txpackages,addrman,bench,estimatefee,rpc,coindb,leveldb and
// -logtimemicros, its debug.log piped into peer-observer's log extractor.
// Only BlockConnected and BlockChecked lines are parsed into their own
// events; every other line is an UnknownLogMessage with its category.

// logUs is the line's own timestamp (µs): at most 0.3 ms before the
// extractor reads it, never before the previous line.
func (s *sim) logUs() int64 {
	us := max(s.lastLogUs, s.now*1000+int64(s.rLog.intn(300))-300)
	s.lastLogUs = us
	return us
}

// log emits one debug.log line of category cat.
func (s *sim) log(cat pb.LogDebugCategory, msg string) {
	ts, us := uint64(s.now), uint64(s.logUs())
	raw := appendLogEvent(make([]byte, 0, logEventSize(ts, us, cat, msg)), ts, us, cat, msg)
	s.emitRaw(raw)
}

func (s *sim) logNet(msg string) { s.log(pb.LogDebugCategory_NET, msg) }

// startLogs runs the node's periodic log lines.
func (s *sim) startLogs() {
	r := s.rLog
	var peersDat func()
	peersDat = func() {
		s.logNet(fmt.Sprintf("Flushed %d addresses to peers.dat  %dms", len(s.addrs.entries), 20+r.intn(40)))
		s.after(15*60*1000, peersDat)
	}
	s.after(int64(r.intn(15*60*1000)), peersDat)
	var flush func()
	flush = func() {
		mib := 20 + r.float()*60
		s.log(pb.LogDebugCategory_COINDB, fmt.Sprintf("Writing final batch of %.2f MiB", mib))
		s.log(pb.LogDebugCategory_COINDB, fmt.Sprintf("Committed %d changed transaction outputs (out of %d) to coin database...", 200_000+r.intn(300_000), 900_000+r.intn(400_000)))
		for range 2 + r.intn(4) {
			s.log(pb.LogDebugCategory_LEVELDB, fmt.Sprintf("Generated table #%d@0: %d keys, %d bytes", 400_000+r.intn(100_000), 30_000+r.intn(30_000), 2_000_000+r.intn(200_000)))
		}
		h := hexRev(s.chain.hash(s.chain.tip))
		s.log(pb.LogDebugCategory_VALIDATION, "Enqueuing ChainStateFlushed: block hash="+h)
		s.log(pb.LogDebugCategory_VALIDATION, "ChainStateFlushed: block hash="+h)
		s.after(int64(50*60*1000+r.intn(20*60*1000)), flush)
	}
	s.after(int64(r.intn(60*60*1000)), flush)
}
