package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/edit"
)

func init() {
	var (
		ef    editFlags
		every time.Duration
		size  byteSize
	)
	cmd := &cobra.Command{
		Use:   "split IN... -o DIR --every 1h|--size 100MiB",
		Short: "Split archives into segments by event time or size",
		Long: `split cuts segments, directories, .partial files and peer-observer archives
into complete segments in DIR, byte for byte.

--every D cuts at multiples of D since the epoch (UTC): --every 1h gives one
segment per clock hour, --every 24h one per UTC day. A record that steps
back in time across a boundary stays in the segment it arrived in: split
never reorders. --size S starts a new segment once the current one holds S
bytes on disk (it may exceed S by about one second of events).

Each node of the input is split on its own; segments are named
NODE-TIME-SEQ.seg.zst with TIME the first event's time.`,
		Example: `  peertape split big.seg.zst -o hourly/ --every 1h
  peertape split archive.20260407-090713-133.bin.zst -o parts/ --size 100MiB`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every < 0 {
				return usagef("--every %v: must be positive", every)
			}
			if (every > 0) == (size > 0) {
				return usagef("give exactly one of --every and --size")
			}
			label := "split --every " + every.String()
			if size > 0 {
				label = "split --size " + size.String()
			}
			o, done, err := ef.options(cmd, label)
			if err != nil {
				return err
			}
			if edit.SingleFile(o.Out) {
				done()
				return usagef("-o %s: split writes several segments, give a directory", o.Out)
			}
			rep, err := edit.Split(cmd.Context(), args, every, int64(size), o)
			done()
			if err != nil {
				return err
			}
			return ef.report(cmd, "split", rep)
		},
	}
	ef.add(cmd, "output directory (created if missing)")
	cmd.Flags().DurationVar(&every, "every", 0, "cut at every multiple of this duration since the epoch (UTC), e.g. 1h")
	cmd.Flags().Var(&size, "size", "cut when a segment reaches this size on disk, e.g. 100MiB")
	rootCmd.AddCommand(cmd)
}
