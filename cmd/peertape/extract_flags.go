package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peertape/peertape/event"
	logextract "github.com/peertape/peertape/extract/log"
	"github.com/peertape/peertape/extract/p2p"
	"github.com/peertape/peertape/extract/rpc"
	"github.com/peertape/peertape/natsbus"
)

// The flag bindings of the RPC, P2P and log extractors, shared by
// `peertape extract rpc|p2p|log` and `peertape record`. Names follow
// peer-observer's extractors; durations take Go syntax or a bare number of
// seconds.

// rpcFlags are the RPC extractor's flags.
type rpcFlags struct {
	host, user, password, cookieFile string
	tls                              bool
	tlsCert                          string
	interval, lessFrequent, timeout  seconds
	disable                          map[string]*bool
}

// bindRPCFlags registers the RPC extractor's flags on fs.
func bindRPCFlags(fs *pflag.FlagSet) *rpcFlags {
	f := &rpcFlags{interval: seconds(rpc.DefaultQueryInterval), lessFrequent: seconds(rpc.DefaultQueryIntervalLessFrequent),
		disable: map[string]*bool{}}
	fs.StringVar(&f.host, "rpc-host", rpc.DefaultHost, "node RPC endpoint: host:port, or http(s)://host:port")
	fs.StringVar(&f.user, "rpc-user", "", "RPC user (with --rpc-password)")
	fs.StringVar(&f.password, "rpc-password", "", "RPC password")
	fs.StringVar(&f.cookieFile, "rpc-cookie-file", "", "RPC cookie file (bitcoind's .cookie), re-read when the node restarts")
	fs.BoolVar(&f.tls, "rpc-tls", false, "connect with TLS (btcd's default; Core needs a TLS proxy)")
	fs.StringVar(&f.tlsCert, "rpc-tls-cert", "", "PEM certificate to trust for --rpc-tls (btcd's rpc.cert); implies --rpc-tls")
	fs.Var(&f.interval, "query-interval", "how often the frequent RPCs are polled")
	fs.Var(&f.lessFrequent, "query-interval-less-frequent", "how often getchaintxstats, getblockchaininfo and getrawaddrman are polled")
	fs.Var(&f.timeout, "rpc-timeout", "longest wait for one RPC answer (0: the RPC's polling interval)")
	for _, r := range rpc.RPCs() {
		b := new(bool)
		f.disable[r.Name] = b
		fs.BoolVar(b, "disable-"+r.Name, false, "do not poll "+r.Name+" ("+r.Help+")")
	}
	return f
}

// options turns the flags into extractor options; mistakes are usage errors.
func (f *rpcFlags) options() (rpc.Options, error) {
	if f.password == "" && f.cookieFile == "" {
		return rpc.Options{}, usagef("give --rpc-user and --rpc-password, or --rpc-cookie-file")
	}
	if f.password != "" && f.cookieFile != "" {
		return rpc.Options{}, usagef("--rpc-password and --rpc-cookie-file exclude each other")
	}
	if f.interval <= 0 || f.lessFrequent <= 0 || f.timeout < 0 {
		return rpc.Options{}, usagef("--query-interval and --query-interval-less-frequent must be positive")
	}
	o := rpc.Options{
		Host: f.host, User: f.user, Password: f.password, CookieFile: f.cookieFile,
		TLS: f.tls, TLSCertFile: f.tlsCert,
		QueryInterval: time.Duration(f.interval), QueryIntervalLessFrequent: time.Duration(f.lessFrequent),
		Timeout: time.Duration(f.timeout),
	}
	for _, r := range rpc.RPCs() {
		if *f.disable[r.Name] {
			o.Disable = append(o.Disable, r.Name)
		}
	}
	if len(o.Disable) == len(rpc.RPCs()) {
		return rpc.Options{}, usagef("every RPC is disabled: nothing to poll")
	}
	return o, nil
}

// p2pFlags are the P2P extractor's flags.
type p2pFlags struct {
	address, network, userAgent           string
	pingInterval                          seconds
	noPing, noAddrV2, noInvs, noFeeFilter bool
	maxConnections                        int
}

// bindP2PFlags registers the P2P extractor's flags on fs.
func bindP2PFlags(fs *pflag.FlagSet) *p2pFlags {
	f := &p2pFlags{pingInterval: seconds(p2p.DefaultPingInterval)}
	fs.StringVar(&f.address, "p2p-address", p2p.DefaultAddress, "address to listen on for the node's -addnode connection")
	fs.StringVar(&f.network, "p2p-network", p2p.DefaultNetwork, "network magic: "+strings.Join(p2p.NetworkNames(), ", "))
	fs.Var(&f.pingInterval, "ping-interval", "how often the node is pinged to measure its message-processing backlog")
	fs.BoolVar(&f.noPing, "disable-ping", false, "do not ping the node (no PingDuration events)")
	fs.BoolVar(&f.noAddrV2, "disable-addrv2", false, "do not publish the node's addrv2 announcements")
	fs.BoolVar(&f.noInvs, "disable-invs", false, "do not publish the node's inv announcements")
	fs.BoolVar(&f.noFeeFilter, "disable-feefilter", false, "do not publish the node's feefilter values")
	fs.StringVar(&f.userAgent, "p2p-user-agent", p2p.DefaultUserAgent, "user agent sent to the node")
	fs.IntVar(&f.maxConnections, "p2p-max-connections", p2p.DefaultMaxConnections, "most nodes connected at once")
	return f
}

func (f *p2pFlags) options() (p2p.Options, error) {
	if _, ok := p2p.Networks[strings.ToLower(f.network)]; !ok {
		return p2p.Options{}, usagef("--p2p-network %q: want one of %s", f.network, strings.Join(p2p.NetworkNames(), ", "))
	}
	if f.pingInterval <= 0 {
		return p2p.Options{}, usagef("--ping-interval must be positive")
	}
	if f.maxConnections <= 0 {
		return p2p.Options{}, usagef("--p2p-max-connections must be positive")
	}
	if f.noPing && f.noAddrV2 && f.noInvs && f.noFeeFilter {
		return p2p.Options{}, usagef("every P2P event is disabled: nothing to extract")
	}
	return p2p.Options{
		Address: f.address, Network: f.network, PingInterval: time.Duration(f.pingInterval),
		DisablePing: f.noPing, DisableAddrV2: f.noAddrV2, DisableInvs: f.noInvs, DisableFeeFilter: f.noFeeFilter,
		UserAgent: f.userAgent, MaxConnections: f.maxConnections,
	}, nil
}

// logFlags are the log extractor's flags.
type logFlags struct {
	file, fifo string
	stdin      bool
	fromStart  bool
	poll       seconds
	maxLine    byteSize
	eventTime  string
}

// bindLogFlags registers the log extractor's flags on fs. --bitcoind-pipe
// is peer-observer's name for --log-fifo.
func bindLogFlags(fs *pflag.FlagSet) *logFlags {
	f := &logFlags{poll: seconds(logextract.DefaultPollInterval), maxLine: logextract.DefaultMaxLineBytes}
	fs.StringVar(&f.file, "log-file", "", "debug.log to follow like tail -F (rotation and truncation survived)")
	fs.StringVar(&f.fifo, "log-fifo", "", "named pipe bitcoind's log is written to")
	fs.StringVar(&f.fifo, "bitcoind-pipe", "", "peer-observer's name for --log-fifo")
	fs.Lookup("bitcoind-pipe").Hidden = true
	fs.BoolVar(&f.stdin, "log-stdin", false, "read log lines from standard input")
	fs.BoolVar(&f.fromStart, "from-start", false, "read --log-file from its beginning instead of its end")
	fs.Var(&f.poll, "log-poll-interval", "how often --log-file is checked for new lines, rotation and truncation")
	fs.Var(&f.maxLine, "log-max-line", "longest line kept whole (longer lines are cut, not dropped)")
	fs.StringVar(&f.eventTime, "log-event-time", "now", "event timestamp: now (as peer-observer) or line (the line's own time, for old logs)")
	return f
}

func (f *logFlags) options() (logextract.Options, error) {
	n := 0
	for _, set := range []bool{f.file != "", f.fifo != "", f.stdin} {
		if set {
			n++
		}
	}
	if n != 1 {
		return logextract.Options{}, usagef("give exactly one of --log-file, --log-fifo and --log-stdin")
	}
	if f.fromStart && f.file == "" {
		return logextract.Options{}, usagef("--from-start applies to --log-file only")
	}
	if f.poll <= 0 || f.maxLine <= 0 {
		return logextract.Options{}, usagef("--log-poll-interval and --log-max-line must be positive")
	}
	o := logextract.Options{File: f.file, FIFO: f.fifo, FromStart: f.fromStart, PollInterval: time.Duration(f.poll),
		MaxLineBytes: int(f.maxLine)}
	switch f.eventTime {
	case "now":
	case "line":
		o.LineTime = true
	default:
		return logextract.Options{}, usagef("--log-event-time %q: want now or line", f.eventTime)
	}
	if f.stdin {
		o.Reader = os.Stdin
	}
	return o, nil
}

// natsFlags are the publishing flags of the RPC, P2P and log extract
// commands (the same as extract ebpf's).
type natsFlags struct {
	url         string
	embedded    bool
	addr        string
	metricsAddr string
}

func bindNATSFlags(cmd *cobra.Command) *natsFlags {
	f := &natsFlags{}
	cmd.Flags().StringVar(&f.url, "nats", nats.DefaultURL, "NATS server to publish to")
	cmd.Flags().BoolVar(&f.embedded, "embedded-nats", false, "start an embedded NATS server (5 MiB max payload) and publish to it")
	cmd.Flags().StringVar(&f.addr, "embedded-nats-addr", "127.0.0.1:4222", "listen address of the embedded NATS server")
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", "", "serve the extractor's Prometheus metrics on this address (/metrics)")
	return f
}

// check reports usage mistakes before anything starts.
func (f *natsFlags) check(cmd *cobra.Command) error {
	if f.embedded && cmd.Flags().Changed("nats") {
		return usagef("--nats and --embedded-nats exclude each other")
	}
	if f.embedded {
		if _, _, err := splitHostPort(f.addr); err != nil {
			return usagef("--embedded-nats-addr: %v", err)
		}
	}
	return nil
}

// newExtractorRegistry is a registry with the process collectors, for an
// extractor's own metrics.
func newExtractorRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// publishSource runs src into NATS until SIGINT/SIGTERM (a normal stop)
// or src ends, then flushes and prints what was published.
func publishSource(cmd *cobra.Command, name string, f *natsFlags, reg *prometheus.Registry, src event.Source) error {
	ctx := cmd.Context()
	if f.metricsAddr != "" {
		stop, err := serveMetrics(f.metricsAddr, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	url := f.url
	if f.embedded {
		host, port, _ := splitHostPort(f.addr)
		srv, err := natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port})
		if err != nil {
			return err
		}
		defer srv.Close()
		url = srv.ClientURL()
		slog.Info("embedded NATS server running", "url", url)
	}
	nc, err := nats.Connect(url, nats.Name("peertape extract "+name), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(64<<20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				slog.Warn("NATS disconnected; buffering events until it is back", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { slog.Info("NATS connected", "url", c.ConnectedUrl()) }))
	if err != nil {
		return fmt.Errorf("nats %s: %w", url, err)
	}
	defer nc.Close()
	pub := natsbus.NewPublisher(nc)
	slog.Info("publishing "+name+" events", "nats", url)
	runErr := src.Run(ctx, pub)
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if nc.IsConnected() {
		if err := pub.Flush(flushCtx); err != nil && runErr == nil {
			runErr = err
		}
	} else if runErr == nil {
		runErr = fmt.Errorf("nats %s: not connected, buffered events are lost", url)
	}
	published, failed, _ := pub.Stats()
	fmt.Fprintf(cmd.OutOrStdout(), "published %s events (%s refused by NATS)\n", formatCount(published), formatCount(failed))
	if errors.Is(runErr, context.Canceled) {
		return nil // SIGINT/SIGTERM: a normal stop
	}
	return runErr
}
