package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/format"
)

func init() {
	var (
		output string
		keep   bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "recover FILE...",
		Short: "Turn a .partial or damaged segment into a complete one with index",
		Long: `recover reads everything that can be read from a .partial (left by a crash)
or damaged segment — complete frames, the complete blocks of a torn frame,
the records of a damaged frame before the damage — and writes a complete
segment with index next to it (NAME.seg.zst for NAME.seg.zst.partial).
The .partial is removed once the new segment is safely in place. The index
of the result records what was dropped.`,
		Example: `  peertape recover /var/lib/peertape/node1-20260407T090713Z-000003.seg.zst.partial`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && len(args) > 1 {
				return usagef("-o works with one file only")
			}
			var reps []*format.RecoverReport
			for _, f := range args {
				rep, err := format.Recover(f, format.RecoverOptions{Output: output, Keep: keep})
				if err != nil {
					return err
				}
				reps = append(reps, rep)
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "recovered %s -> %s: kept %s events, dropped %d bytes\n", rep.Input, rep.Output, formatCount(rep.Events), rep.DroppedBytes)
					for _, p := range rep.Problems {
						fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", p)
					}
				}
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(reps)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "path of the recovered segment (default: the input without .partial)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the input file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON report")
	rootCmd.AddCommand(cmd)
}
