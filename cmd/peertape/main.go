// Command peertape records and replays the event streams of Bitcoin node
// monitoring (peer-observer compatible). Each subcommand lives in its own
// file and stays thin: flags in, one library call, output out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

var rootCmd = &cobra.Command{
	Use:   "peertape",
	Short: "Record and replay Bitcoin node monitoring events (peer-observer compatible)",
	Long: `peertape records every event that Bitcoin node monitoring extracts into
rotating, compressed, self-describing segment files, and replays them into
the same analyzers, Prometheus metrics and NATS subjects that run live.

Every read command accepts segment files, directories of segments, unfinished
.partial files and peer-observer archives (.bin, .bin.zst).

Exit codes: 0 ok, 1 error, 2 usage.`,
	SilenceUsage:  true,
	SilenceErrors: true,
	Version:       version,
}

var logLevel, logFormat string

func init() {
	rootCmd.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	rootCmd.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return setupLogging(cmd.ErrOrStderr())
	}
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})
}

func setupLogging(w io.Writer) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch logFormat {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", logFormat)}
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCodeError lets a command choose its exit code after printing its own
// report (verify prints problems and exits 1 without an extra message).
type exitCodeError struct {
	code int
	msg  string
}

func (e exitCodeError) Error() string { return e.msg }

// signalContext returns a context cancelled on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the exit code. Tests call it
// directly.
func run(args []string, stdout, stderr io.Writer) int {
	rootCmd.SetArgs(args)
	rootCmd.SetOut(stdout)
	rootCmd.SetErr(stderr)
	ctx, cancel := signalContext(context.Background())
	defer cancel()
	err := rootCmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		if ec.msg != "" {
			fmt.Fprintln(stderr, "peertape:", ec.msg)
		}
		return ec.code
	}
	fmt.Fprintln(stderr, "peertape:", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitError
}

// isCobraUsageError recognises the argument errors cobra produces itself
// (unknown command, wrong number of arguments).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
