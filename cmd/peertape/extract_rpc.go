package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/extract/rpc"
)

func init() {
	cmd := &cobra.Command{
		Use:   "rpc (--rpc-user U --rpc-password P | --rpc-cookie-file F) [--rpc-host HOST:PORT]",
		Short: "Poll a node's JSON-RPC interface and publish the results to NATS",
		Long: `extract rpc polls a Bitcoin Core, Bitcoin Knots or btcd node over JSON-RPC and
publishes one event per result on peer-observer's "rpc" subject, byte-compatible
with peer-observer's rpc-extractor: getpeerinfo, getmempoolinfo, uptime,
getnettotals, getmemoryinfo, getaddrmaninfo, getnetworkinfo and getorphantxs
every --query-interval; getchaintxstats, getblockchaininfo and getrawaddrman
every --query-interval-less-frequent.

Each RPC has its own connection and timeout: a slow RPC never delays the others
and never piles up requests. RPCs the node lacks (btcd has few of them) are
logged once, counted in rpcextractor_rpc_unsupported and skipped. Values pass
through as the node returns them (fee rates in BTC/kvB, pings in seconds);
btcd's microsecond pings and decimal service flags are converted to Core's
units.`,
		Example: `  # a Core node with cookie authentication, publishing to an existing NATS
  peertape extract rpc --rpc-cookie-file ~/.bitcoin/.cookie --nats nats://127.0.0.1:4222

  # btcd (TLS by default) on simnet, embedded NATS, faster polling
  peertape extract rpc --rpc-host 127.0.0.1:18556 --rpc-user u --rpc-password p \
      --rpc-tls-cert ~/.btcd/rpc.cert --query-interval 5s --embedded-nats`,
		Args: cobra.NoArgs,
	}
	rf := bindRPCFlags(cmd.Flags())
	nf := bindNATSFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		o, err := rf.options()
		if err != nil {
			return err
		}
		if err := nf.check(cmd); err != nil {
			return err
		}
		reg := newExtractorRegistry()
		o.Registerer, o.Logger = reg, slog.Default()
		x, err := rpc.New(o)
		if err != nil {
			return usageError{err}
		}
		return publishSource(cmd, "rpc", nf, reg, x)
	}
	extractParent().AddCommand(cmd)
}
