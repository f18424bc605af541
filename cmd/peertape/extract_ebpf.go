package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/peertape/peertape/extract/ebpf"
	"github.com/peertape/peertape/natsbus"
)

// extractParent returns the `peertape extract` command, creating it the
// first time: each extractor registers itself under it.
func extractParent() *cobra.Command {
	for _, c := range rootCmd.Commands() {
		if c.Name() == "extract" {
			return c
		}
	}
	c := &cobra.Command{
		Use:   "extract",
		Short: "Extract events from a Bitcoin node and publish them to NATS like peer-observer's extractors",
	}
	rootCmd.AddCommand(c)
	return c
}

func init() {
	var (
		natsURL      string
		embedded     bool
		embeddedAddr string
		metricsAddr  string
	)
	cmd := &cobra.Command{
		Use:   "ebpf --bitcoind-path PATH (--pid N | --pid-file FILE)",
		Short: "Trace bitcoind's USDT tracepoints with eBPF and publish the events to NATS",
		Long: `extract ebpf attaches BPF programs to the USDT tracepoints of a running
Bitcoin Core node (v29 or newer, built with USDT support as release binaries
are): P2P messages, connections, mempool and validation. It publishes every
event on peer-observer's NATS subjects (netmsg, netconn, mempool,
validation), byte-compatible with peer-observer's Rust ebpf-extractor, so
its metrics, websocket and archiver tools consume them unchanged.

With --pid-file the extractor waits for bitcoind, attaches, and re-attaches
when the node restarts. Lost or undecodable records are counted in the
peertape_ebpf_* metrics (--metrics-addr) and logged.

Needs root, or CAP_BPF and CAP_PERFMON, and a kernel with uprobes, BPF ring
buffers and attach cookies (5.15 or newer). BTF is not needed.`,
		Example: `  # publish to a NATS server peer-observer's tools already use
  sudo peertape extract ebpf --bitcoind-path /usr/local/bin/bitcoind \
      --pid-file ~/.bitcoin/bitcoind.pid --nats nats://127.0.0.1:4222

  # no NATS server yet: run one inside the extractor, serve metrics
  sudo peertape extract ebpf --bitcoind-path ./bitcoind --pid 4242 \
      --embedded-nats --metrics-addr 127.0.0.1:8283 --no-mempool-tracepoints`,
		Args: cobra.NoArgs,
	}
	flags := bindEBPFFlags(cmd.Flags())
	cmd.Flags().StringVar(&natsURL, "nats", nats.DefaultURL, "NATS server to publish to")
	cmd.Flags().BoolVar(&embedded, "embedded-nats", false, "start an embedded NATS server (5 MiB max payload) and publish to it")
	cmd.Flags().StringVar(&embeddedAddr, "embedded-nats-addr", "127.0.0.1:4222", "listen address of the embedded NATS server")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve the extractor's Prometheus metrics on this address (/metrics)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts, err := flags.options()
		if err != nil {
			return err
		}
		if embedded && cmd.Flags().Changed("nats") {
			return usagef("--nats and --embedded-nats exclude each other")
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts.Registerer, opts.Logger = reg, slog.Default()
		x, err := ebpf.New(opts)
		if err != nil {
			return usageError{err}
		}
		// Fail on privileges, kernel or binary before starting anything.
		if err := x.Check(); err != nil {
			return err
		}
		ctx := cmd.Context()
		if metricsAddr != "" {
			stop, err := serveMetrics(metricsAddr, reg)
			if err != nil {
				return err
			}
			defer stop()
		}
		url := natsURL
		if embedded {
			host, port, err := splitHostPort(embeddedAddr)
			if err != nil {
				return usagef("--embedded-nats-addr: %v", err)
			}
			srv, err := natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port})
			if err != nil {
				return err
			}
			defer srv.Close()
			url = srv.ClientURL()
			slog.Info("embedded NATS server running", "url", url)
		}
		nc, err := nats.Connect(url, nats.Name("peertape extract ebpf"), nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(64<<20),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil { // nil: our own Close
					slog.Warn("NATS disconnected; buffering events until it is back", "error", err)
				}
			}),
			nats.ReconnectHandler(func(c *nats.Conn) { slog.Info("NATS connected", "url", c.ConnectedUrl()) }))
		if err != nil {
			return fmt.Errorf("nats %s: %w", url, err)
		}
		defer nc.Close()
		pub := natsbus.NewPublisher(nc)
		slog.Info("publishing eBPF events", "nats", url, "binary", opts.BinaryPath)
		runErr := x.Run(ctx, pub)
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
	extractParent().AddCommand(cmd)
}

// serveMetrics serves reg on addr's /metrics until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	slog.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}
