package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/format"
)

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify PATH...",
		Short: "Check every frame checksum, the index against the data, and the trailer",
		Long: `verify decodes every frame of each file, checking zstd content checksums,
record framing and event encoding, and for segments the metadata, index
and trailer checksums and that the index matches the data exactly. It
exits 0 when every file is sound and 1 with a list of problems otherwise
(an unfinished .partial counts as a problem: run peertape recover).`,
		Example: `  peertape verify demo/
  peertape verify --json node1-20260407T090713Z-000003.seg.zst`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := format.Expand(args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var reports []*format.VerifyReport
			bad := 0
			for _, f := range files {
				rep, err := format.Verify(f)
				if err != nil {
					rep = &format.VerifyReport{Path: f, Problems: []string{err.Error()}}
				}
				reports = append(reports, rep)
				if !rep.OK() {
					bad++
				}
				if asJSON {
					continue
				}
				if rep.OK() {
					fmt.Fprintf(out, "ok       %s (%s events, %d frames)\n", f, formatCount(rep.Events), rep.Frames)
					continue
				}
				fmt.Fprintf(out, "PROBLEMS %s\n", f)
				for _, p := range rep.Problems {
					fmt.Fprintf(out, "  %s\n", p)
				}
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(reports); err != nil {
					return err
				}
			}
			if bad > 0 {
				return exitCodeError{code: exitError, msg: fmt.Sprintf("%d of %d files have problems", bad, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of reports")
	rootCmd.AddCommand(cmd)
}
