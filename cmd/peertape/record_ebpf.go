package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/peertape/peertape/extract/ebpf"
)

// ebpfRecordSource lets `peertape record --ebpf` run the eBPF extractor
// in-process: events go straight to the segments, no NATS in between.
type ebpfRecordSource struct {
	enabled bool
	flags   *ebpfFlags
}

func init() { registerRecordSource(&ebpfRecordSource{}) }

// AddFlags adds --ebpf and the extractor's flags (those of `peertape
// extract ebpf`, without the NATS ones).
func (p *ebpfRecordSource) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.enabled, "ebpf", false, "record bitcoind's USDT tracepoints in-process (with --bitcoind-path and --pid or --pid-file)")
	p.flags = bindEBPFFlags(fs)
}

// Sources returns the extractor when --ebpf is given, after checking
// privileges, kernel and binary so that a missing capability is named
// before recording starts.
func (p *ebpfRecordSource) Sources(_ context.Context, env recordEnv) ([]recordSource, error) {
	if !p.enabled {
		if p.flags.bitcoindPath != "" || p.flags.pid != 0 || p.flags.pidFile != "" {
			return nil, usagef("--bitcoind-path, --pid and --pid-file need --ebpf")
		}
		return nil, nil
	}
	o, err := p.flags.options()
	if err != nil {
		return nil, err
	}
	o.Node, o.Registerer, o.Logger = env.Node, env.Registerer, env.Logger
	x, err := ebpf.New(o)
	if err != nil {
		return nil, usageError{err}
	}
	if err := x.Check(); err != nil {
		return nil, err
	}
	return []recordSource{{Source: x, Description: "ebpf " + o.BinaryPath}}, nil
}
