package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	logextract "github.com/peertape/peertape/extract/log"
)

func init() {
	cmd := &cobra.Command{
		Use:   "log (--log-file debug.log [--from-start] | --log-fifo PIPE | --log-stdin)",
		Short: "Parse a node's debug.log lines and publish them to NATS",
		Long: `extract log reads Bitcoin Core's debug.log and publishes one event per line on
peer-observer's "log-extractor" subject. --log-file follows the file like tail -F
(from its end unless --from-start; rotation and truncation are followed);
--log-fifo reads a named pipe; --log-stdin reads standard input.

Lines are split by Core's grammar (timestamp with optional microseconds, thread
name, source location, category and level brackets). BlockConnected and
BlockChecked lines (-debug=validation) become structured events; compact-block
reconstruction lines (-debug=cmpctblock) are kept as messages with category
CMPCTBLOCK; every other line, even one that does not parse, is kept whole.`,
		Example: `  # follow the node's log (start it with -debug=validation -logtimemicros)
  peertape extract log --log-file ~/.bitcoin/debug.log --nats nats://127.0.0.1:4222

  # import an old log with each line's own time as event time
  peertape extract log --log-file old-debug.log --from-start --log-event-time line --embedded-nats

  # bitcoind writes to a pipe
  mkfifo /run/bitcoind.log && peertape extract log --log-fifo /run/bitcoind.log`,
		Args: cobra.NoArgs,
	}
	lf := bindLogFlags(cmd.Flags())
	nf := bindNATSFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		o, err := lf.options()
		if err != nil {
			return err
		}
		if err := nf.check(cmd); err != nil {
			return err
		}
		reg := newExtractorRegistry()
		o.Registerer, o.Logger = reg, slog.Default()
		x, err := logextract.New(o)
		if err != nil {
			return usageError{err}
		}
		return publishSource(cmd, "log", nf, reg, x)
	}
	extractParent().AddCommand(cmd)
}
