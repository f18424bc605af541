package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/natsbus"
)

func init() {
	var (
		listen     = "127.0.0.1:4222"
		maxPayload = byteSize(natsbus.DefaultMaxPayload)
	)
	cmd := &cobra.Command{
		Use:   "nats [--listen 127.0.0.1:4222] [--max-payload 5MiB]",
		Short: "Run an embedded NATS server for extractors and consumers to share",
		Long: `nats runs a NATS server (core NATS, no JetStream) inside peertape until SIGINT
or SIGTERM, for set-ups where extractors publish to it and several consumers
(peertape record, peertape metrics, peer-observer's tools) subscribe. Its
max_payload defaults to the 5 MiB peer-observer requires for block messages.
--listen with port 0 picks a free port (the log says which).`,
		Example: `  peertape nats
  peertape nats --listen 0.0.0.0:4222 --max-payload 8MiB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, port, err := splitHostPort(listen)
			if err != nil {
				return usagef("--listen: %v", err)
			}
			if port == 0 {
				port = -1 // natsbus: any free port
			}
			if maxPayload <= 0 || maxPayload > 64<<20 {
				return usagef("--max-payload %s: want 1 B .. 64 MiB", formatBytes(int64(maxPayload)))
			}
			srv, err := natsbus.StartServer(natsbus.ServerOptions{Host: host, Port: port, MaxPayload: int32(maxPayload), Logger: slog.Default()})
			if err != nil {
				return err
			}
			slog.Info("NATS server running", "url", srv.ClientURL(), "max_payload", int64(maxPayload))
			<-cmd.Context().Done()
			slog.Info("NATS server stopping")
			srv.Close()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "address to listen on (port 0: any free port)")
	cmd.Flags().Var(&maxPayload, "max-payload", "largest message the server accepts")
	rootCmd.AddCommand(cmd)
}
