package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/extract/p2p"
)

func init() {
	cmd := &cobra.Command{
		Use:   "p2p [--p2p-address 127.0.0.1:9333] [--p2p-network mainnet]",
		Short: "Listen for a node's P2P connection, measure its ping backlog and publish what it announces",
		Long: `extract p2p is a small P2P peer the node connects to: start it, then give the
node -addnode=127.0.0.1:9333 (Bitcoin Core, Knots) or --addpeer (btcd). It speaks
P2P v1 (a Core node that tries BIP324 first falls back to v1), pings the node
every --ping-interval with the send time in nanoseconds as nonce, and publishes
on peer-observer's "p2p-extractor" subject: PingDuration (the node's message-
processing backlog), its addrv2, inv and feefilter announcements.

Several nodes may connect; each connection is logged and labelled in the
peertape_p2p_* metrics by remote address and user agent. A message over 4 MB,
with a bad checksum or a payload that does not parse closes that connection
with a log line; the extractor keeps listening.`,
		Example: `  # a mainnet node started with -addnode=127.0.0.1:9333
  peertape extract p2p --nats nats://127.0.0.1:4222

  # a regtest node, pinging every 2 seconds, metrics on :8284
  peertape extract p2p --p2p-network regtest --p2p-address 127.0.0.1:18555 \
      --ping-interval 2s --embedded-nats --metrics-addr 127.0.0.1:8284`,
		Args: cobra.NoArgs,
	}
	pf := bindP2PFlags(cmd.Flags())
	nf := bindNATSFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		o, err := pf.options()
		if err != nil {
			return err
		}
		if err := nf.check(cmd); err != nil {
			return err
		}
		reg := newExtractorRegistry()
		o.Registerer, o.Logger = reg, slog.Default()
		x, err := p2p.New(o)
		if err != nil {
			return usageError{err}
		}
		if err := x.Listen(); err != nil {
			return err
		}
		return publishSource(cmd, "p2p", nf, reg, x)
	}
	extractParent().AddCommand(cmd)
}
