package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/format"
)

func init() {
	var (
		level     int
		frameSize byteSize = 64 << 20
		window    byteSize = 32 << 20
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "compact PATH...",
		Short: "Recompress complete segments at a higher level with large frames",
		Long: `compact rewrites complete segments at a higher zstd level with larger
frames and window, streaming, then reads the new file back and replaces
the original atomically only if it holds exactly the same records. Live
recording stays cheap; archives at rest get small. .partial files are
skipped (recover them first).`,
		Example: `  peertape compact /var/lib/peertape/
  peertape compact --level 19 node1-20260407T090713Z-000003.seg.zst`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := format.Expand(args)
			if err != nil {
				return err
			}
			var reps []*format.CompactReport
			failed := 0
			for _, f := range files {
				if cmd.Context().Err() != nil {
					return cmd.Context().Err()
				}
				if strings.HasSuffix(f, format.PartialSuffix) {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: skipping unfinished %s (run peertape recover)\n", f)
					continue
				}
				rep, err := format.Compact(f, format.CompactOptions{Level: level, FrameSize: int64(frameSize), WindowSize: int(window)})
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %v\n", err)
					failed++
					continue
				}
				reps = append(reps, rep)
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "compacted %s: %s -> %s (%.1f%%), %s events\n", f, formatBytes(rep.Before), formatBytes(rep.After),
						100*float64(rep.After)/float64(max(rep.Before, 1)), formatCount(rep.Events))
				}
			}
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(reps); err != nil {
					return err
				}
			}
			if failed > 0 {
				return exitCodeError{code: exitError, msg: fmt.Sprintf("%d files could not be compacted (originals kept)", failed)}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&level, "level", 19, "zstd level 1..22 (10 and above select the encoder's best)")
	cmd.Flags().Var(&frameSize, "frame-size", "raw bytes per frame")
	cmd.Flags().Var(&window, "window", "zstd window size (a power of two)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON report")
	rootCmd.AddCommand(cmd)
}
