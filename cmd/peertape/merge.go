package main

import (
	"github.com/spf13/cobra"

	"github.com/peertape/peertape/edit"
)

func init() {
	var ef editFlags
	cmd := &cobra.Command{
		Use:   "merge IN... -o OUT",
		Short: "Merge archives (or nodes) in event-time order, byte for byte",
		Long: `merge interleaves the events of segments, directories, .partial files and
peer-observer archives by event time, like mergecap — overlapping recordings
of one node, or several nodes — copying records byte for byte.

Each event keeps its node: segment metadata names one node, so every node
gets its own output segments (NODE-TIME-SEQ.seg.zst in the directory OUT),
each in event-time order, and 'peertape replay OUT' plays the merged stream.
OUT may be a .seg.zst file name when every input is from one node.

The merge is stable: events with equal times keep the order of the inputs as
given. Inside a file records keep their arrival order, so a record that
steps back in time follows its predecessor. Files are opened only when the
merge reaches their first event, so memory grows with the number of inputs
that overlap in time, not with their number or size.`,
		Example: `  peertape merge node-a/ node-b/ -o fleet/
  peertape merge recorder1/ recorder2/ -o merged.seg.zst`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, done, err := ef.options(cmd, "merge")
			if err != nil {
				return err
			}
			rep, err := edit.Merge(cmd.Context(), args, o)
			done()
			if err != nil {
				return err
			}
			return ef.report(cmd, "merge", rep)
		},
	}
	ef.add(cmd, "output directory, or a .seg.zst file name for one node")
	rootCmd.AddCommand(cmd)
}
