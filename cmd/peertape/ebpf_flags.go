package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/peertape/peertape/bpf"

	"github.com/peertape/peertape/extract/ebpf"
)

// ebpfFlags are the eBPF extractor's flags, shared by `peertape extract
// ebpf` and `peertape record --ebpf`.
type ebpfFlags struct {
	bitcoindPath                string
	pid                         int
	pidFile                     string
	noP2PMsg, noConn, noMempool bool
	noValidation                bool
	eventsRing, bigRing, wakeup byteSize
	maxDelay                    seconds
}

// bindEBPFFlags registers the extractor's flags on fs. Names follow
// peer-observer's ebpf-extractor where it has one.
func bindEBPFFlags(fs *pflag.FlagSet) *ebpfFlags {
	f := &ebpfFlags{maxDelay: seconds(ebpf.DefaultMaxDelay), wakeup: ebpf.DefaultWakeupBytes,
		eventsRing: bpf.DefaultEventsRingSize, bigRing: bpf.DefaultBigRingSize}
	fs.StringVar(&f.bitcoindPath, "bitcoind-path", "", "bitcoind binary to read USDT probes from")
	fs.IntVar(&f.pid, "pid", 0, "pid of the running bitcoind (the extractor stops when it exits)")
	fs.StringVar(&f.pidFile, "pid-file", "", "bitcoind's -pid file; the extractor waits for the node and follows restarts")
	fs.BoolVar(&f.noP2PMsg, "no-p2pmsg-tracepoints", false, "do not trace net:inbound_message / net:outbound_message")
	fs.BoolVar(&f.noConn, "no-connection-tracepoints", false, "do not trace the net:*_connection tracepoints")
	fs.BoolVar(&f.noMempool, "no-mempool-tracepoints", false, "do not trace the mempool:* tracepoints")
	fs.BoolVar(&f.noValidation, "no-validation-tracepoints", false, "do not trace validation:block_connected")
	fs.Var(&f.eventsRing, "ring-size", "ring buffer for all events but large P2P messages (rounded up to a power of two)")
	fs.Var(&f.bigRing, "big-ring-size", "ring buffer for P2P messages over 64 KiB, such as blocks")
	fs.Var(&f.wakeup, "wakeup-size", "bytes waiting in a ring buffer before the extractor is woken (0: every record)")
	fs.Var(&f.maxDelay, "max-delay", "longest a record waits in a quiet ring buffer")
	return f
}

// options checks the flags and turns them into extractor options; usage
// mistakes come back as usage errors.
func (f *ebpfFlags) options() (ebpf.Options, error) {
	if f.bitcoindPath == "" {
		return ebpf.Options{}, usagef("--bitcoind-path is required")
	}
	if (f.pid == 0) == (f.pidFile == "") {
		return ebpf.Options{}, usagef("give exactly one of --pid and --pid-file")
	}
	if f.pid < 0 {
		return ebpf.Options{}, usagef("--pid %d is not a process id", f.pid)
	}
	o := ebpf.Options{
		BinaryPath:     f.bitcoindPath,
		PID:            f.pid,
		PIDFile:        f.pidFile,
		EventsRingSize: int(f.eventsRing),
		BigRingSize:    int(f.bigRing),
		WakeupBytes:    int(f.wakeup),
		MaxDelay:       time.Duration(f.maxDelay),
	}
	if f.wakeup == 0 {
		o.WakeupBytes = -1 // wake for every record
	}
	for _, g := range []struct {
		off  bool
		name string
	}{
		{f.noP2PMsg, ebpf.GroupP2PMessages}, {f.noConn, ebpf.GroupConnections},
		{f.noMempool, ebpf.GroupMempool}, {f.noValidation, ebpf.GroupValidation},
	} {
		if g.off {
			o.Disable = append(o.Disable, g.name)
		}
	}
	if len(o.Disable) == 4 {
		return ebpf.Options{}, usagef("every tracepoint group is disabled: nothing to extract")
	}
	return o, nil
}
