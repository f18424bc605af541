package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

// readFlags are the selection flags shared by commands that read archives.
type readFlags struct {
	from, to      string
	only, exclude []string

	fromSpec, toSpec event.TimeSpec
	filter           *event.Filter
}

func (f *readFlags) add(cmd *cobra.Command, kindFlag string) {
	cmd.Flags().StringVar(&f.from, "from", "", "first event time (inclusive): RFC 3339, epoch ms, or an offset from the archive start like +10m")
	cmd.Flags().StringVar(&f.to, "to", "", "end time (exclusive), same forms as --from")
	cmd.Flags().StringSliceVar(&f.only, kindFlag, nil, "only these kinds or kind:type (netmsg, netmsg:inv, netconn:inbound, mempool, validation, addrman, rpc, p2p, log, ipc, unknown)")
	cmd.Flags().StringSliceVar(&f.exclude, "exclude", nil, "leave out these kinds or kind:type")
}

// parse checks the flags; errors are usage errors.
func (f *readFlags) parse() error {
	var err error
	if f.fromSpec, err = event.ParseTimeSpec(f.from); err != nil {
		return usageError{fmt.Errorf("--from: %w", err)}
	}
	if f.toSpec, err = event.ParseTimeSpec(f.to); err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	if f.filter, err = event.NewFilter(f.only, f.exclude); err != nil {
		return usageError{err}
	}
	return nil
}

// options resolves the parsed flags against the files to read.
func (f *readFlags) options(files []string) (format.ReadOptions, error) {
	o := format.ReadOptions{Filter: f.filter}
	var err error
	o.From, o.To, err = format.ResolveRange(files, f.fromSpec, f.toSpec)
	return o, err
}

func init() {
	var rf readFlags
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "cat PATH...",
		Short: "Print events, one per line (or JSON lines)",
		Long: `cat prints the events of segments, directories, .partial files and
peer-observer archives in file order, one per line.

--json prints JSON lines:
  {"time_ms":…,"kind":"netmsg","type":"inv","node":"…","event":{…}}
where "event" holds every field of the event.Event under its proto field
name; hashes and txids are hex in the order block explorers show, other
bytes plain hex, enums by name. Damaged frames are reported on stderr (file
and offset) after every readable event was printed, and the exit code is 1.`,
		Example: `  peertape cat demo/ --kind netmsg:ping,netmsg:pong --from +10m --to +11m
  peertape cat --json archive.bin.zst | jq -c 'select(.kind=="netconn")'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.parse(); err != nil {
				return err
			}
			if cpuProfile != "" {
				// Hidden: profiles cat's own loop (tools/bench, issue 3's
				// ≥ 500,000 events/s target) as users run it.
				pf, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(pf); err != nil {
					pf.Close()
					return err
				}
				defer func() { pprof.StopCPUProfile(); pf.Close() }()
			}
			files, err := format.Expand(args)
			if err != nil {
				return err
			}
			opts, err := rf.options(files)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			defer out.Flush()
			var buf []byte
			problems := 0
			for _, f := range files {
				if cmd.Context().Err() != nil {
					break
				}
				r, err := format.Open(f, opts)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %v\n", err)
					problems++
					continue
				}
				for r.Next() {
					ev := r.RawEvent()
					// nil message: render straight from the wire (every
					// field decoded, no Go structs built), several times
					// faster; undecodable events still fail here.
					if asJSON {
						buf, err = event.AppendJSONLine(buf[:0], ev, nil)
					} else {
						buf, err = event.AppendTextLine(buf[:0], ev, nil)
					}
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %s: frame %d: %v\n", f, r.Frame(), err)
						problems++
						continue
					}
					if _, err := out.Write(buf); err != nil {
						r.Close()
						return err // stdout closed (e.g. | head): stop quietly
					}
				}
				for _, p := range r.Problems() {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %v\n", p)
					problems++
				}
				if err := r.Err(); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %v\n", err)
					problems++
				}
				if d := r.Dropped() + r.DroppedRaw(); d > 0 {
					// A torn tail (a .partial being written, a crash) is not
					// damage, but what was left out is said.
					slog.Info("torn tail skipped", "file", f, "bytes", d)
				}
				r.Close()
			}
			if err := out.Flush(); err != nil {
				return err
			}
			if problems > 0 {
				return exitCodeError{code: exitError, msg: fmt.Sprintf("%d problems (every readable event was printed)", problems)}
			}
			return nil
		},
	}
	rf.add(cmd, "kind")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().MarkHidden("cpuprofile")
	rootCmd.AddCommand(cmd)
}
