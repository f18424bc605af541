package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/edit"
	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

// editFlags are the output flags shared by filter, merge and split.
type editFlags struct {
	out       string
	level     int
	frameSize byteSize
	asJSON    bool
}

func (f *editFlags) add(cmd *cobra.Command, outHelp string) {
	cmd.Flags().StringVarP(&f.out, "output", "o", "", outHelp)
	cmd.Flags().IntVar(&f.level, "level", format.DefaultLevel, "zstd compression level 1..22")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print a JSON report")
	addFrameSizeFlag(cmd, &f.frameSize)
}

// addFrameSizeFlag adds the advanced --frame-size flag, as record has it.
func addFrameSizeFlag(cmd *cobra.Command, v *byteSize) {
	*v = format.DefaultFrameSize
	cmd.Flags().Var(v, "frame-size", "raw bytes per zstd frame of the output (advanced)")
	cmd.Flags().MarkHidden("frame-size")
}

// options returns the edit options; label describes the edit in the
// output metadata. Every edit reports its progress in input bytes.
func (f *editFlags) options(cmd *cobra.Command, label string) (edit.Options, func(), error) {
	if f.out == "" {
		return edit.Options{}, nil, usagef("-o OUT is required")
	}
	bar, done := barFunc(cmd.ErrOrStderr(), strings.Fields(label)[0])
	return edit.Options{Out: f.out, Level: f.level, FrameSize: int64(f.frameSize), Label: label, Progress: bar}, done, nil
}

// report prints what an edit did; damage in the inputs makes exit code 1
// after everything readable was written.
func (f *editFlags) report(cmd *cobra.Command, verb string, rep *edit.Report) error {
	w := cmd.OutOrStdout()
	if f.asJSON {
		if err := json.NewEncoder(w).Encode(rep); err != nil {
			return err
		}
	} else {
		printEditReport(w, verb, rep)
	}
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %s\n", p)
		}
		return exitCodeError{code: exitError, msg: fmt.Sprintf("%d problems in the input (every readable event was written)", len(rep.Problems))}
	}
	return nil
}

func printEditReport(w io.Writer, verb string, rep *edit.Report) {
	fmt.Fprintf(w, "%s: read %s events from %d files, wrote %s events into %d segments\n",
		verb, formatCount(rep.Read), rep.Files, formatCount(rep.Written), len(rep.Outputs))
	for _, o := range rep.Outputs {
		fmt.Fprintf(w, "  %s  node %s  %s events", o.Path, o.Node, formatCount(o.Events))
		if o.Events > 0 {
			fmt.Fprintf(w, "  %s .. %s", event.FormatTime(o.FirstMs), event.FormatTime(o.LastMs))
		}
		fmt.Fprintln(w)
	}
}

func init() {
	var (
		rf    readFlags
		ef    editFlags
		peers []string
	)
	cmd := &cobra.Command{
		Use:   "filter IN... -o OUT [--from T] [--to T] [--only/--exclude KIND,...] [--peer ADDR|ID]",
		Short: "Cut out events by time, kind and peer, byte for byte",
		Long: `filter copies the selected events of segments, directories, .partial files
and peer-observer archives into complete segments, byte for byte (unknown
fields and kinds survive), like editcap: cut out the stretch around an
anomaly.

OUT is a directory (segments named NODE-TIME-SEQ.seg.zst, one per node of the
input) or a file name ending in .seg.zst when the input holds one node.
Files are read in the order given (directories in name order); events are
never reordered — use merge to interleave overlapping archives.

--from/--to take RFC 3339 times, epoch milliseconds or offsets from the
first event (+10m). --only/--exclude take kinds or kind:type.

--peer ID|ADDR (comma-separated, any of them) keeps the events about a peer:
  netmsg     P2P message metadata peer id or address
  netconn    connection peer id or address; misbehaving peer id
  addrman    tracepoint: the inserted address or its source
  rpc        getpeerinfo polls listing the peer id or address (whole poll)
  log        debug.log message, block-check message or thread name holding
             "peer=ID" or the address as Core prints it
An address without port matches every port. Peer ids are per node and
restart with it, so an id matches that id on every node and run. Addresses
inside addr/addrv2 entries and announcements, getrawaddrman snapshots,
mempool and validation events never match.`,
		Example: `  peertape filter recordings/ -o anomaly.seg.zst --from 2026-04-07T09:00:00Z --to +30m
  peertape filter recordings/ -o peer12/ --peer 12,203.0.113.7 --exclude log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.parse(); err != nil {
				return err
			}
			p, err := edit.ParsePeers(peers)
			if err != nil {
				return usagef("--peer: %v", err)
			}
			label := "filter"
			for _, part := range []struct{ flag, v string }{{"--from", rf.from}, {"--to", rf.to},
				{"--only", strings.Join(rf.only, ",")}, {"--exclude", strings.Join(rf.exclude, ",")}, {"--peer", p.String()}} {
				if part.v != "" {
					label += " " + part.flag + " " + part.v
				}
			}
			o, done, err := ef.options(cmd, label)
			if err != nil {
				return err
			}
			rep, err := edit.Filter(cmd.Context(), args, edit.Selection{From: rf.fromSpec, To: rf.toSpec, Kinds: rf.filter, Peers: p}, o)
			done()
			if err != nil {
				return err
			}
			return ef.report(cmd, "filter", rep)
		},
	}
	rf.add(cmd, "only")
	ef.add(cmd, "output directory, or a .seg.zst file name for one node")
	cmd.Flags().StringSliceVar(&peers, "peer", nil, "keep events about these peers: Core peer ids or addresses (with or without port)")
	rootCmd.AddCommand(cmd)
}
