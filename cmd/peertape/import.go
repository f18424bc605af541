package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/format"
)

func init() {
	var (
		outDir string
		node   string
		level  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "import UPSTREAM.bin.zst... -o DIR",
		Short: "Convert peer-observer archives into segments",
		Long: `import converts peer-observer archives (.bin.zst or .bin, complete or
truncated) into peertape segments named NODE-YYYYMMDDTHHMMSSZ-SEQ.seg.zst,
keeping every event byte for byte. Every read command also accepts
peer-observer archives directly; importing adds an index (fast seeks and
info) and checksums.`,
		Example: `  peertape import archive.20260407-090713-133.bin.zst -o segments/ --node mainnet-1`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				return usagef("-o DIR is required")
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			files, err := format.Expand(args)
			if err != nil {
				return err
			}
			var reps []*format.RecoverReport
			for _, f := range files {
				rep, err := format.Import(f, outDir, format.ImportOptions{Node: node, Writer: format.WriterOptions{Level: level}})
				if err != nil {
					return err
				}
				reps = append(reps, rep)
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s -> %s: %s events", rep.Input, rep.Output, formatCount(rep.Events))
					if rep.DroppedBytes > 0 {
						fmt.Fprintf(cmd.OutOrStdout(), ", dropped %d bytes of torn tail", rep.DroppedBytes)
					}
					fmt.Fprintln(cmd.OutOrStdout())
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
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "directory for the segments (created if missing)")
	cmd.Flags().StringVar(&node, "node", "", "node name (default: the archive file name before the first dot)")
	cmd.Flags().IntVar(&level, "level", format.DefaultLevel, "zstd compression level 1..22")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON report")
	rootCmd.AddCommand(cmd)
}
