package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/peertape/peertape/analyze"
	"github.com/peertape/peertape/natsbus"
)

// metricsFlags holds the metrics command's flags.
type metricsFlags struct {
	natsURL          string
	embedded         bool
	listen           string
	maxPayload       byteSize
	addr             string
	node             string
	subjects         []string
	natsUser         string
	natsPassFile     string
	noProcessMetrics bool
	engine           engineFlags
}

func init() {
	f := &metricsFlags{listen: "127.0.0.1:4222", maxPayload: natsbus.DefaultMaxPayload, addr: "127.0.0.1:8282"}
	cmd := &cobra.Command{
		Use:   "metrics (--nats URL | --embedded-nats [--listen ADDR]) [--addr 127.0.0.1:8282] [flags]",
		Short: "Serve peer-observer's and peertape's Prometheus metrics for the events on NATS",
		Long: `metrics is a drop-in for peer-observer's metrics tool: it subscribes to the
extractors' NATS subjects and serves /metrics with the same peerobserver_*
names, types and labels (so existing Grafana dashboards keep working), plus
peertape's own peertape_* analyzers (ping backlog, relay rates, orphanage,
addrman churn, compact blocks, anomaly counts).

The analyzers run on event time, not the wall clock: a replay of the recorded
events (peertape replay --metrics-addr) exposes exactly the same values.
/metrics answers in the Prometheus text format, or in OpenMetrics when the
scraper asks for it. Process and Go runtime metrics (process_*, go_*) and the
NATS subscriber's (peertape_nats_*) are served too, unless
--no-process-metrics; they are the only part that depends on more than the
events.

peer-observer compiles IP lists into its binary; here they come from files:
one IPv4/IPv6 address or CIDR prefix per line, '#' starts a comment. Without a
file a list is empty and its metrics stay 0.`,
		Example: `  peertape metrics --nats nats://127.0.0.1:4222
  peertape metrics --embedded-nats --listen 127.0.0.1:4222 --addr 0.0.0.0:8282 \
      --ip-list-dir /etc/peertape/ip-lists
  curl -s -H 'Accept: application/openmetrics-text' http://127.0.0.1:8282/metrics`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMetrics(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.natsURL, "nats", "", "NATS server to subscribe to, e.g. nats://127.0.0.1:4222")
	fl.BoolVar(&f.embedded, "embedded-nats", false, "start an embedded NATS server on --listen and serve metrics for what is published to it")
	fl.StringVar(&f.listen, "listen", f.listen, "listen address of the embedded NATS server (port 0: any free port)")
	fl.Var(&f.maxPayload, "max-payload", "max_payload of the embedded NATS server")
	fl.StringVar(&f.addr, "addr", f.addr, "address to serve /metrics on (port 0: any free port)")
	fl.StringVar(&f.node, "node", "", "node name the events come from (keys per-peer state; metrics carry no node label)")
	fl.StringSliceVar(&f.subjects, "subjects", nil, "NATS subjects to subscribe to (default *: every peer-observer subject)")
	fl.StringVar(&f.natsUser, "nats-user", "", "NATS user name")
	fl.StringVar(&f.natsPassFile, "nats-password-file", "", "file holding the NATS password")
	fl.BoolVar(&f.noProcessMetrics, "no-process-metrics", false, "serve only the analyzers' metrics (no process_*, go_*, peertape_nats_*)")
	f.engine.addFlags(fl)
	rootCmd.AddCommand(cmd)
}

func runMetrics(cmd *cobra.Command, f *metricsFlags) error {
	switch {
	case f.embedded && f.natsURL != "":
		return usagef("--nats and --embedded-nats exclude each other")
	case !f.embedded && f.natsURL == "":
		return usagef("no source: give --nats URL or --embedded-nats")
	}
	opts, lists, err := f.engine.options()
	if err != nil {
		return err
	}
	var natsPass string
	if f.natsPassFile != "" {
		b, err := os.ReadFile(f.natsPassFile)
		if err != nil {
			return usagef("--nats-password-file: %v", err)
		}
		natsPass = strings.TrimSpace(string(b))
	}
	log := slog.Default()
	engine, err := analyze.New(opts)
	if err != nil {
		return err
	}
	if len(lists) > 0 {
		log.Info("IP lists loaded", "lists", lists)
	}

	// Everything that depends on more than the events goes on a second
	// registry, served alongside the engine's.
	extra := prometheus.NewRegistry()
	if !f.noProcessMetrics {
		extra.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	}
	var extraGatherer prometheus.Gatherer
	var subReg prometheus.Registerer
	if !f.noProcessMetrics {
		extraGatherer, subReg = extra, extra
	}

	ctx := cmd.Context()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", engine.Handler(analyze.HandlerOptions{Extra: extraGatherer, Logger: log}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "peertape metrics: see /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	log.Info("serving metrics", "addr", ln.Addr().String())

	natsURL := f.natsURL
	if f.embedded {
		host, port, err := splitHostPort(f.listen)
		if err != nil {
			return usagef("--listen: %v", err)
		}
		if port == 0 {
			port = -1 // natsbus: any free port
		}
		if f.maxPayload <= 0 || f.maxPayload > 64<<20 {
			return usagef("--max-payload %s: want 1 B .. 64 MiB", formatBytes(int64(f.maxPayload)))
		}
		ns, err := natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port, MaxPayload: int32(f.maxPayload), Logger: log})
		if err != nil {
			return err
		}
		defer ns.Close()
		natsURL = ns.ClientURL()
		log.Info("embedded NATS server running; point the extractors at it", "url", natsURL, "max_payload", int64(f.maxPayload))
	}
	sub := natsbus.NewSubscriber(natsURL, natsbus.SubscriberOptions{
		Subjects: f.subjects, Node: f.node, Name: "peertape metrics",
		User: f.natsUser, Password: natsPass,
		DrainTimeout: 3 * time.Second,
		Registerer:   subReg, Logger: log,
	})
	go func() {
		select {
		case <-sub.Ready():
			log.Info("exporting", "nats", natsURL, "addr", ln.Addr().String())
		case <-ctx.Done():
		}
	}()
	runErr := sub.Run(ctx, engine)
	log.Info("metrics exporter finished", "events", engine.Events())
	if errors.Is(runErr, context.Canceled) {
		return nil // SIGINT/SIGTERM: a normal stop
	}
	return runErr
}
