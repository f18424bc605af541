package main

import (
	"math"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/peertape/peertape/analyze"
)

// engineFlags binds the analyzer options shared by every command that runs
// the analyze engine (metrics, replay's metrics outputs, analyze): the IP
// list files and the per-peer state bound.
type engineFlags struct {
	listDir  string
	lists    [len(ipListFlagNames)]string
	maxPeers int
}

// ipListFlagNames maps each IP list (analyze.IPListFiles order) to its flag.
var ipListFlagNames = [...]struct{ list, flag, what string }{
	{"gmax_ban", "gmax-banlist", "Greg Maxwell's old ban list"},
	{"monero_ban", "monero-banlist", "the Monero ban list"},
	{"tor_exit", "tor-exit-list", "Tor exit nodes (torproject's torbulkexitlist)"},
	{"linkinglion", "linkinglion-list", "LinkingLion's addresses"},
	{"linkinglion_pre2026", "linkinglion-pre2026-list", "LinkingLion's pre-2026 addresses"},
	{"bitprojects", "bitprojects-list", "bitprojects.io's addresses"},
}

func (f *engineFlags) addFlags(fs *pflag.FlagSet) {
	var files []string
	for _, l := range analyze.IPListFiles {
		files = append(files, l.File)
	}
	fs.StringVar(&f.listDir, "ip-list-dir", "", "directory of IP list files ("+strings.Join(files, ", ")+"); missing files leave their list empty")
	for i, l := range ipListFlagNames {
		fs.StringVar(&f.lists[i], l.flag, "", "IP list file of "+l.what+" (one address or CIDR prefix per line, # comments); overrides --ip-list-dir")
	}
	fs.IntVar(&f.maxPeers, "max-peers", analyze.DefaultMaxPeers, "peers whose state (outstanding pings, last feefilter) the analyzers keep; the least recently active is evicted beyond")
}

// options loads the lists; a list file that cannot be read or parsed is a
// usage error naming the flag.
func (f *engineFlags) options() (analyze.Options, []string, error) {
	var o analyze.Options
	var loaded []string
	if f.maxPeers < 1 {
		return o, nil, usagef("--max-peers %d: want at least 1", f.maxPeers)
	}
	o.Limits.MaxPeers = f.maxPeers
	if f.listDir != "" {
		names, err := o.Lists.LoadIPListDir(f.listDir)
		if err != nil {
			return o, nil, usagef("--ip-list-dir: %v", err)
		}
		loaded = append(loaded, names...)
	}
	for i, l := range ipListFlagNames {
		if f.lists[i] == "" {
			continue
		}
		list, err := analyze.LoadIPList(l.list, f.lists[i])
		if err != nil {
			return o, nil, usagef("--%s: %v", l.flag, err)
		}
		*o.Lists.ByName(l.list) = list
		loaded = append(loaded, l.list)
	}
	return o, loaded, nil
}

// detectFlags binds the anomaly detectors' thresholds.
type detectFlags struct {
	pingBacklog                                              seconds
	inboundFlood, misbehaving, rejectSpike, orphans, mutated int
	window, cooldown                                         seconds
	maxPeers                                                 int
	floodFactor                                              float64
	floodBaseline                                            seconds
	floodWarmup                                              int
}

func newDetectFlags() *detectFlags {
	return &detectFlags{
		pingBacklog:   seconds(analyze.DefaultPingBacklog),
		inboundFlood:  analyze.DefaultInboundFlood,
		misbehaving:   analyze.DefaultMisbehavingBurst,
		rejectSpike:   analyze.DefaultRejectSpike,
		orphans:       analyze.DefaultOrphanFlood,
		mutated:       analyze.DefaultMutatedBlocks,
		window:        seconds(analyze.DefaultWindow),
		cooldown:      seconds(analyze.DefaultCooldown),
		maxPeers:      analyze.DefaultMaxAnomalyPeers,
		floodFactor:   analyze.DefaultInboundFloodFactor,
		floodBaseline: seconds(analyze.DefaultInboundBaseline),
		floodWarmup:   analyze.DefaultInboundFloodWarmup,
	}
}

func (f *detectFlags) addFlags(fs *pflag.FlagSet) {
	fs.Var(&f.pingBacklog, "ping-backlog", "anomaly: a ping answered slower than this")
	fs.IntVar(&f.inboundFlood, "inbound-flood", f.inboundFlood, "anomaly: this many inbound connections within --window, and --inbound-flood-factor times the node's baseline")
	fs.Float64Var(&f.floodFactor, "inbound-flood-factor", f.floodFactor, "anomaly: inbound connections within --window reach this many times the node's mean per window over --inbound-baseline (flood windows left out)")
	fs.Var(&f.floodBaseline, "inbound-baseline", "span of event time before the window the inbound baseline is the mean over")
	fs.IntVar(&f.floodWarmup, "inbound-flood-warmup", f.floodWarmup, "anomaly: this many inbound connections within --window while a node has less than one window of history (no baseline yet)")
	fs.IntVar(&f.misbehaving, "misbehaving-burst", f.misbehaving, "anomaly: this many misbehaviour reports within --window")
	fs.IntVar(&f.rejectSpike, "reject-spike", f.rejectSpike, "anomaly: this many mempool rejections within --window")
	fs.IntVar(&f.orphans, "orphan-flood", f.orphans, "anomaly: this many orphans in one getorphantxs poll")
	fs.IntVar(&f.mutated, "mutated-blocks", f.mutated, "anomaly: this many mutated-block log lines within --window")
	fs.Var(&f.window, "window", "span of event time the counts above are taken over")
	fs.Var(&f.cooldown, "cooldown", "an anomaly ends after this long below its threshold")
	fs.IntVar(&f.maxPeers, "anomaly-peers", f.maxPeers, "peers listed per anomaly")
}

func (f *detectFlags) options() (analyze.DetectOptions, error) {
	for _, c := range []struct {
		name string
		v    int
	}{{"--inbound-flood", f.inboundFlood}, {"--misbehaving-burst", f.misbehaving}, {"--reject-spike", f.rejectSpike},
		{"--orphan-flood", f.orphans}, {"--mutated-blocks", f.mutated}, {"--anomaly-peers", f.maxPeers}, {"--inbound-flood-warmup", f.floodWarmup}} {
		if c.v < 1 {
			return analyze.DetectOptions{}, usagef("%s %d: want at least 1", c.name, c.v)
		}
	}
	if time.Duration(f.window) < time.Second {
		return analyze.DetectOptions{}, usagef("--window %v: want at least 1s", time.Duration(f.window))
	}
	if !(f.floodFactor >= 1) || math.IsInf(f.floodFactor, 0) {
		return analyze.DetectOptions{}, usagef("--inbound-flood-factor %v: want at least 1", f.floodFactor)
	}
	if time.Duration(f.floodBaseline) < time.Duration(f.window) {
		return analyze.DetectOptions{}, usagef("--inbound-baseline %v: want at least --window (%v)", time.Duration(f.floodBaseline), time.Duration(f.window))
	}
	if f.pingBacklog <= 0 || f.cooldown <= 0 {
		return analyze.DetectOptions{}, usagef("--ping-backlog and --cooldown must be positive")
	}
	return analyze.DetectOptions{
		PingBacklog:        time.Duration(f.pingBacklog),
		InboundFlood:       f.inboundFlood,
		MisbehavingBurst:   f.misbehaving,
		RejectSpike:        f.rejectSpike,
		OrphanFlood:        f.orphans,
		MutatedBlocks:      f.mutated,
		Window:             time.Duration(f.window),
		Cooldown:           time.Duration(f.cooldown),
		MaxPeers:           f.maxPeers,
		InboundFloodFactor: f.floodFactor,
		InboundBaseline:    time.Duration(f.floodBaseline),
		InboundFloodWarmup: f.floodWarmup,
	}, nil
}
