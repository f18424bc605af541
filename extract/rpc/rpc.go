// Package rpc is peertape's RPC extractor: it polls a Bitcoin node's
// JSON-RPC interface (Bitcoin Core, Bitcoin Knots or btcd) with btcd's
// rpcclient in HTTP POST mode and emits one peer-observer rpc event per
// result, byte-compatible with peer-observer's rpc-extractor.
//
// Every RPC is polled by its own goroutine with its own HTTP client and a
// per-request timeout, so a slow or hanging RPC (getrawaddrman on a big
// address manager, a node stuck in a lock) never delays the others, and
// at most one request per RPC is ever outstanding: nothing queues up while
// the node is slow or down. After a timeout the RPC backs off (up to four
// intervals), because the node keeps working on a request its client
// abandoned. RPCs the node does not have (btcd lacks most
// of them, older Cores lack getaddrmaninfo or getorphantxs) are logged
// once, counted, and asked again only every UnsupportedRecheck.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// The RPCs the extractor polls, by the names used in --disable-<rpc>.
const (
	GetPeerInfo       = "getpeerinfo"
	GetMempoolInfo    = "getmempoolinfo"
	Uptime            = "uptime"
	GetNetTotals      = "getnettotals"
	GetMemoryInfo     = "getmemoryinfo"
	GetAddrManInfo    = "getaddrmaninfo"
	GetNetworkInfo    = "getnetworkinfo"
	GetOrphanTxs      = "getorphantxs"
	GetChainTxStats   = "getchaintxstats"
	GetBlockchainInfo = "getblockchaininfo"
	GetRawAddrman     = "getrawaddrman"
)

type method struct {
	name         string
	params       []json.RawMessage
	lessFrequent bool
	convert      converter
	help         string
}

// methods in peer-observer's polling order.
var methods = []method{
	{GetPeerInfo, nil, false, convertPeerInfo, "connected peers"},
	{GetMempoolInfo, nil, false, convertMempoolInfo, "mempool size, usage and fee rates"},
	{Uptime, nil, false, convertUptime, "seconds since the node started"},
	{GetNetTotals, nil, false, convertNetTotals, "bytes sent and received, upload target"},
	{GetMemoryInfo, nil, false, convertMemoryInfo, "locked memory pool"},
	{GetAddrManInfo, nil, false, convertAddrManInfo, "address manager counts per network"},
	{GetNetworkInfo, nil, false, convertNetworkInfo, "version, connections, networks, relay fees"},
	{GetOrphanTxs, []json.RawMessage{json.RawMessage("2")}, false, convertOrphanTxs, "orphan transactions with their hex (verbosity 2)"},
	{GetChainTxStats, nil, true, convertChainTxStats, "transaction rate over the last month"},
	{GetBlockchainInfo, nil, true, convertBlockchainInfo, "chain, height, headers, IBD state"},
	{GetRawAddrman, nil, true, convertRawAddrman, "every address manager entry (heavy)"},
}

// RPCInfo describes one polled RPC.
type RPCInfo struct {
	Name         string
	LessFrequent bool   // polled every QueryIntervalLessFrequent
	Help         string // what it reports
}

// RPCs lists the polled RPCs in polling order.
func RPCs() []RPCInfo {
	out := make([]RPCInfo, len(methods))
	for i, m := range methods {
		out[i] = RPCInfo{m.name, m.lessFrequent, m.help}
	}
	return out
}

// Defaults for Options.
const (
	DefaultHost                      = "127.0.0.1:8332"
	DefaultQueryInterval             = 10 * time.Second
	DefaultQueryIntervalLessFrequent = 120 * time.Second
	DefaultUnsupportedRecheck        = 10 * time.Minute
)

// Options configures an Extractor.
type Options struct {
	// Host is the node's RPC endpoint: host:port (default 127.0.0.1:8332),
	// or a URL; https:// turns TLS on.
	Host string
	// User and Password authenticate with -rpcuser/-rpcpassword or an
	// -rpcauth entry. CookieFile is used instead when Password is empty:
	// it is re-read when it changes, so a restarted node's new cookie is
	// picked up. One of Password and CookieFile is required.
	User, Password string
	CookieFile     string
	// TLS connects with https (btcd serves RPC over TLS by default; Core
	// needs a TLS proxy). TLSCertFile is a PEM certificate to trust
	// instead of the system roots (btcd's rpc.cert).
	TLS         bool
	TLSCertFile string
	// QueryInterval (default 10s) and QueryIntervalLessFrequent (default
	// 120s) are the polling periods; getchaintxstats, getblockchaininfo and
	// getrawaddrman use the less frequent one.
	QueryInterval, QueryIntervalLessFrequent time.Duration
	// Timeout bounds each request (default: the RPC's polling period, so a
	// request never overlaps the next poll of the same RPC).
	Timeout time.Duration
	// Disable lists RPC names not to poll.
	Disable []string
	// UnsupportedRecheck is how long an RPC the node lacks is left alone
	// before it is tried again (default 10 minutes; the node may have been
	// upgraded).
	UnsupportedRecheck time.Duration
	// Node names the node on every event (event.Event.Node).
	Node string
	// Registerer receives the extractor's metrics (rpcextractor_*, the
	// names of peer-observer's rpc-extractor). Nil keeps them private.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock event timestamps are taken from (default time.Now).
	Now func() time.Time
}

// Extractor is an event.Source polling a node's RPC interface. Run calls
// the sink's Consume (and NodeInfo, when the sink implements
// event.NodeInfoSink) from one goroutine at a time.
type Extractor struct {
	opts    Options
	log     *slog.Logger
	m       *metrics
	host    string // host:port for rpcclient
	certPEM []byte
	enabled []method

	sinkMu   sync.Mutex
	sink     event.Sink
	sinkErr  error
	cancel   context.CancelFunc
	lastInfo event.NodeInfo
	haveInfo bool

	reidentify chan struct{}
}

// New checks o and returns an extractor; nothing is contacted until Run.
func New(o Options) (*Extractor, error) {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.QueryInterval == 0 {
		o.QueryInterval = DefaultQueryInterval
	}
	if o.QueryIntervalLessFrequent == 0 {
		o.QueryIntervalLessFrequent = DefaultQueryIntervalLessFrequent
	}
	if o.UnsupportedRecheck == 0 {
		o.UnsupportedRecheck = DefaultUnsupportedRecheck
	}
	if o.QueryInterval < 0 || o.QueryIntervalLessFrequent < 0 || o.Timeout < 0 || o.UnsupportedRecheck < 0 {
		return nil, errors.New("rpc extractor: intervals and timeouts must be positive")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Password == "" && o.CookieFile == "" {
		return nil, errors.New("rpc extractor: give a password (with a user) or a cookie file")
	}
	x := &Extractor{opts: o, log: o.Logger.With("extractor", "rpc"), reidentify: make(chan struct{}, 1)}
	host := o.Host
	if strings.Contains(host, "://") {
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("rpc extractor: host %q: %w", host, err)
		}
		switch u.Scheme {
		case "http":
		case "https":
			x.opts.TLS = true
		default:
			return nil, fmt.Errorf("rpc extractor: host %q: scheme %q, want http or https", host, u.Scheme)
		}
		host = u.Host
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		return nil, fmt.Errorf("rpc extractor: host %q: want host:port: %w", o.Host, err)
	}
	x.host = host
	if o.TLSCertFile != "" {
		pem, err := os.ReadFile(o.TLSCertFile)
		if err != nil {
			return nil, fmt.Errorf("rpc extractor: TLS certificate: %w", err)
		}
		x.certPEM, x.opts.TLS = pem, true
	}
	disabled := map[string]bool{}
	for _, d := range o.Disable {
		d = strings.ToLower(strings.TrimSpace(d))
		found := false
		for _, m := range methods {
			found = found || m.name == d
		}
		if !found {
			return nil, fmt.Errorf("rpc extractor: cannot disable unknown RPC %q (known: %s)", d, strings.Join(names(), ", "))
		}
		disabled[d] = true
	}
	for _, m := range methods {
		if !disabled[m.name] {
			x.enabled = append(x.enabled, m)
		}
	}
	if len(x.enabled) == 0 {
		return nil, errors.New("rpc extractor: every RPC is disabled: nothing to poll")
	}
	x.m = newMetrics(o.Registerer)
	return x, nil
}

func names() []string {
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = m.name
	}
	return out
}

// Enabled lists the RPCs Run polls.
func (x *Extractor) Enabled() []string {
	out := make([]string, len(x.enabled))
	for i, m := range x.enabled {
		out[i] = m.name
	}
	return out
}

// Run polls until ctx is cancelled (it returns ctx's error) or the sink
// fails (it returns that error; event.ErrStop ends it with nil). Node
// errors never end Run: they are logged, counted and retried.
func (x *Extractor) Run(ctx context.Context, sink event.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.sinkMu.Lock()
	x.sink, x.sinkErr, x.cancel = sink, nil, cancel
	x.sinkMu.Unlock()
	x.log.Info("polling node RPC", "host", x.host, "tls", x.opts.TLS, "rpcs", strings.Join(x.Enabled(), ","),
		"interval", x.opts.QueryInterval, "interval_less_frequent", x.opts.QueryIntervalLessFrequent)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); x.identifyLoop(ctx) }()
	for _, m := range x.enabled {
		interval := x.opts.QueryInterval
		if m.lessFrequent {
			interval = x.opts.QueryIntervalLessFrequent
		}
		timeout := x.opts.Timeout
		if timeout == 0 {
			timeout = interval
		}
		p := &poller{x: x, m: m, interval: interval, timeout: timeout}
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx) }()
	}
	<-ctx.Done()
	wg.Wait()
	x.sinkMu.Lock()
	err := x.sinkErr
	x.sinkMu.Unlock()
	switch {
	case errors.Is(err, event.ErrStop):
		return nil
	case err != nil:
		return err
	}
	return ctx.Err()
}

// emit hands ev to the sink, serialising the pollers.
func (x *Extractor) emit(ev event.Event) bool {
	x.sinkMu.Lock()
	defer x.sinkMu.Unlock()
	if x.sinkErr != nil {
		return false
	}
	if err := x.sink.Consume(ev); err != nil {
		x.sinkErr = err
		x.cancel()
		return false
	}
	return true
}

func (x *Extractor) reportNodeInfo(info event.NodeInfo) {
	x.sinkMu.Lock()
	defer x.sinkMu.Unlock()
	if x.haveInfo && x.lastInfo == info {
		return
	}
	x.lastInfo, x.haveInfo = info, true
	x.log.Info("node identified", "implementation", info.Implementation, "version", info.Version, "network", info.Network)
	if ns, ok := x.sink.(event.NodeInfoSink); ok {
		ns.NodeInfo(info)
	}
}

func (x *Extractor) nodeChanged() {
	select {
	case x.reidentify <- struct{}{}:
	default:
	}
}

// build wraps an rpc message into an event stamped with the wall clock.
func (x *Extractor) build(msg *pb.Rpc) (event.Event, error) {
	ev, err := event.New(&pb.Event{
		Timestamp:         proto.Uint64(uint64(x.opts.Now().UnixMilli())),
		PeerObserverEvent: &pb.Event_RpcExtractor{RpcExtractor: msg},
	})
	if err != nil {
		return event.Event{}, err
	}
	ev.Node = x.opts.Node
	return ev, nil
}

// client is one rpcclient in HTTP POST mode. rpcclient handles a client's
// requests one after another and retries failed connections for about 20
// seconds, so every poller owns a client and abandons it (Shutdown
// cancels the HTTP request) when a request outlives its timeout.
type client struct {
	x *Extractor
	c *rpcclient.Client
}

func (x *Extractor) newClient() (*rpcclient.Client, error) {
	cfg := &rpcclient.ConnConfig{
		Host:         x.host,
		User:         x.opts.User,
		Pass:         x.opts.Password,
		HTTPPostMode: true,
		DisableTLS:   !x.opts.TLS,
		Certificates: x.certPEM,
	}
	if x.opts.Password == "" {
		cfg.CookiePath = x.opts.CookieFile
	}
	return rpcclient.New(cfg, nil)
}

// call makes one request bounded by timeout.
func (c *client) call(ctx context.Context, name string, params []json.RawMessage, timeout time.Duration) (json.RawMessage, error) {
	if c.c == nil {
		rc, err := c.x.newClient()
		if err != nil {
			return nil, &fetchError{reason: "config", err: err}
		}
		c.c = rc
	}
	fut := c.c.RawRequestAsync(name, params)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-fut:
		ch := make(chan *rpcclient.Response, 1)
		ch <- r
		raw, err := rpcclient.ReceiveFuture(ch)
		if err != nil {
			return nil, classify(err)
		}
		return raw, nil
	case <-timer.C:
		c.close()
		// rpcclient retries refused connections for ~20s before giving
		// up, so a dead node looks like a timeout; ask the socket.
		if d, err := net.DialTimeout("tcp", c.x.host, 2*time.Second); err != nil {
			return nil, &fetchError{reason: "connection", err: fmt.Errorf("node unreachable: %w", err)}
		} else {
			d.Close()
		}
		return nil, &fetchError{reason: "timeout", err: fmt.Errorf("no answer within %v", timeout)}
	case <-ctx.Done():
		c.close()
		return nil, ctx.Err()
	}
}

func (c *client) close() {
	if c.c != nil {
		c.c.Shutdown()
		c.c = nil
	}
}

// fetchError classifies a failed request for the errors metric.
type fetchError struct {
	reason string // unsupported, timeout, connection, auth, warmup, rpc, http
	err    error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func classify(err error) *fetchError {
	var rerr *btcjson.RPCError
	if errors.As(err, &rerr) {
		switch {
		case rerr.Code == btcjson.ErrRPCMethodNotFound.Code:
			return &fetchError{"unsupported", err}
		case rerr.Code == -1 && rerr.Message == "Command unimplemented": // btcd
			return &fetchError{"unsupported", err}
		case rerr.Code == btcjson.ErrRPCInWarmup:
			return &fetchError{"warmup", err}
		}
		return &fetchError{"rpc", err}
	}
	var nerr net.Error
	var uerr *url.Error
	msg := err.Error()
	switch {
	case strings.Contains(msg, "status code: 401"), strings.Contains(msg, "status code: 403"):
		return &fetchError{"auth", fmt.Errorf("authentication refused (check user, password or cookie file): %w", err)}
	case errors.As(err, &uerr), errors.As(err, &nerr):
		return &fetchError{"connection", err}
	case strings.HasPrefix(msg, "status code:"):
		return &fetchError{"http", err}
	case errors.Is(err, os.ErrNotExist):
		return &fetchError{"auth", fmt.Errorf("cookie file: %w", err)}
	}
	return &fetchError{"other", err}
}

// poller polls one RPC.
type poller struct {
	x                  *Extractor
	m                  method
	interval, timeout  time.Duration
	cl                 client
	unsupported        bool
	unsupportedAt      time.Time
	lastErr            string
	failures           int
	lastModelErr       string
	lastConnectionFail bool
	// After a timeout the node may still be working on the abandoned
	// request (Core does not cancel an RPC when its client goes away), so
	// the next ones wait: the gap doubles per timeout up to 4 intervals.
	backoff     time.Duration
	lastAttempt time.Time
}

func (p *poller) run(ctx context.Context) {
	p.cl.x = p.x
	defer p.cl.close()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.once(ctx)
		// A ticker drops ticks while a slow request runs: polls never pile up.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *poller) once(ctx context.Context) {
	log := p.x.log.With("rpc", p.m.name)
	if p.unsupported && time.Since(p.unsupportedAt) < p.x.opts.UnsupportedRecheck {
		return
	}
	if p.backoff > 0 && time.Since(p.lastAttempt) < p.backoff-p.interval/2 {
		p.x.m.skipped.WithLabelValues(p.m.name).Inc()
		return
	}
	start := time.Now()
	p.lastAttempt = start
	raw, err := p.cl.call(ctx, p.m.name, p.m.params, p.timeout)
	if ctx.Err() != nil {
		return
	}
	p.x.m.duration.WithLabelValues(p.m.name).Observe(time.Since(start).Seconds())
	if err != nil {
		var fe *fetchError
		if !errors.As(err, &fe) {
			fe = &fetchError{"other", err}
		}
		if fe.reason == "unsupported" {
			if !p.unsupported {
				log.Warn("the node does not support this RPC; skipping it", "recheck_every", p.x.opts.UnsupportedRecheck, "error", fe.err)
				p.x.m.unsupported.WithLabelValues(p.m.name).Set(1)
			}
			p.unsupported, p.unsupportedAt = true, time.Now()
			p.x.m.unsupportedTotal.WithLabelValues(p.m.name).Inc()
			return
		}
		p.x.m.errors.WithLabelValues(p.m.name, fe.reason).Inc()
		p.failures++
		if fe.reason == "timeout" {
			p.backoff = min(max(2*p.interval, 2*p.backoff), 4*p.interval)
		}
		if msg := fe.Error(); msg != p.lastErr {
			log.Warn("fetch failed; retrying every interval", "reason", fe.reason, "error", msg)
			p.lastErr = msg
		} else {
			log.Debug("fetch failed again", "reason", fe.reason, "failures", p.failures)
		}
		p.lastConnectionFail = fe.reason == "connection" || fe.reason == "timeout" || fe.reason == "warmup"
		return
	}
	if p.unsupported {
		log.Info("the node supports this RPC now")
		p.unsupported = false
		p.x.m.unsupported.WithLabelValues(p.m.name).Set(0)
	}
	p.backoff = 0
	if p.failures > 0 {
		log.Info("fetch works again", "failures", p.failures)
		if p.lastConnectionFail {
			p.x.nodeChanged() // likely a restart: the node may be another version now
		}
		p.failures, p.lastErr, p.lastConnectionFail = 0, "", false
	}
	msg, err := p.m.convert(raw)
	if err != nil {
		p.x.m.modelErrors.WithLabelValues(p.m.name).Inc()
		if e := err.Error(); e != p.lastModelErr {
			log.Warn("result does not fit peer-observer's schema", "error", e, "result_prefix", prefix(raw, 200))
			p.lastModelErr = e
		}
		var pe *partialError
		if !errors.As(err, &pe) {
			return
		}
	} else {
		p.lastModelErr = ""
	}
	if ni := msg.GetNetworkInfo(); ni != nil {
		p.x.checkSubversion(ni.GetSubversion())
	}
	ev, err := p.x.build(msg)
	if err != nil {
		p.x.m.modelErrors.WithLabelValues(p.m.name).Inc()
		log.Error("cannot encode event", "error", err)
		return
	}
	if p.x.emit(ev) {
		p.x.m.events.WithLabelValues(p.m.name).Inc()
	}
}

func prefix(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// checkSubversion re-identifies the node when getnetworkinfo reports a
// different user agent than the one identified (an upgrade behind a
// restart the pollers did not notice).
func (x *Extractor) checkSubversion(sub string) {
	x.sinkMu.Lock()
	changed := x.haveInfo && sub != "" && x.lastInfo.Version != sub && x.lastInfo.Implementation != event.ImplBtcd
	x.sinkMu.Unlock()
	if changed {
		x.nodeChanged()
	}
}

// identifyLoop learns the node's implementation, version and network at
// start and again whenever a poller saw the node come back.
func (x *Extractor) identifyLoop(ctx context.Context) {
	cl := client{x: x}
	defer cl.close()
	retry := min(x.opts.QueryInterval, 10*time.Second)
	for {
		info, err := x.identify(ctx, &cl)
		var wait <-chan time.Time
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			x.log.Debug("cannot identify the node yet", "error", err)
			wait = time.After(retry)
		} else {
			x.reportNodeInfo(info)
		}
		select {
		case <-ctx.Done():
			return
		case <-x.reidentify:
		case <-wait:
		}
	}
}

func (x *Extractor) identify(ctx context.Context, cl *client) (event.NodeInfo, error) {
	const timeout = 10 * time.Second
	var info event.NodeInfo
	raw, err := cl.call(ctx, GetNetworkInfo, nil, timeout)
	var fe *fetchError
	switch {
	case err == nil:
		var ni struct {
			Subversion string `json:"subversion"`
		}
		if err := json.Unmarshal(raw, &ni); err != nil {
			return info, fmt.Errorf("getnetworkinfo: %w", err)
		}
		info.Implementation = event.ImplementationFromUserAgent(ni.Subversion)
		info.Version = ni.Subversion
	case errors.As(err, &fe) && fe.reason == "unsupported":
		// btcd has no getnetworkinfo; its version RPC names its JSON-RPC
		// API (not the node's version, which getinfo encodes as Core did
		// before 0.16: 1000000*major + 10000*minor + 100*patch).
		raw, err := cl.call(ctx, "version", nil, timeout)
		if err != nil {
			return info, fmt.Errorf("version: %w", err)
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(raw, &v); err != nil {
			return info, fmt.Errorf("version: %w", err)
		}
		if _, ok := v["btcdjsonrpcapi"]; !ok {
			return info, errors.New("node has neither getnetworkinfo nor btcd's version RPC")
		}
		info.Implementation = event.ImplBtcd
		if raw, err := cl.call(ctx, "getinfo", nil, timeout); err == nil {
			var gi struct {
				Version int64 `json:"version"`
			}
			if json.Unmarshal(raw, &gi) == nil && gi.Version > 0 {
				info.Version = fmt.Sprintf("%d.%d.%d", gi.Version/1000000, gi.Version/10000%100, gi.Version/100%100)
			}
		}
	default:
		return info, fmt.Errorf("getnetworkinfo: %w", err)
	}
	raw, err = cl.call(ctx, GetBlockchainInfo, nil, timeout)
	if err != nil {
		return info, fmt.Errorf("getblockchaininfo: %w", err)
	}
	var bi struct {
		Chain string `json:"chain"`
	}
	if err := json.Unmarshal(raw, &bi); err != nil {
		return info, fmt.Errorf("getblockchaininfo: %w", err)
	}
	info.Network = event.NetworkName(bi.Chain)
	return info, nil
}
