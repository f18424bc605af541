package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
)

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info PATH...",
		Short: "Describe archives: node, time range, events per kind, sizes, completeness",
		Long: `info describes segment files, directories of segments, .partial files and
peer-observer archives, like capinfos does for pcaps. Complete segments are
described from their index without decompressing; anything else is read
through.

--json prints a JSON array with one object per file. Its keys are stable
(new keys may be added): path, format ("peertape-v1", "peer-observer",
"peer-observer-uncompressed"), node, implementation, implementation_version,
network, source, created_ms, complete, status (complete|partial|torn|damaged), events,
first_event_time_ms, last_event_time_ms, min_event_time_ms,
max_event_time_ms, duration_ms, bytes_compressed, bytes_raw, bytes_per_event,
compression_ratio, frames, kinds (kind -> count), commands (P2P message type
-> count), low_data, sanitized, synthetic, gaps, dropped_bytes, problems.`,
		Example: `  peertape info demo/
  peertape info --json archive.20260407-090713-133.bin.zst | jq '.[0].kinds'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := format.Expand(args)
			if err != nil {
				return err
			}
			var sums []*format.Summary
			failed := 0
			for _, f := range files {
				s, err := format.Summarize(f)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %v\n", err)
					failed++
					continue
				}
				sums = append(sums, s)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if sums == nil {
					sums = []*format.Summary{}
				}
				if err := enc.Encode(sums); err != nil {
					return err
				}
			} else {
				for i, s := range sums {
					if i > 0 {
						fmt.Fprintln(out)
					}
					printSummary(out, s)
				}
				if len(sums) > 1 {
					fmt.Fprintln(out)
					printTotals(out, sums)
				}
			}
			if failed > 0 {
				return exitCodeError{code: exitError, msg: fmt.Sprintf("%d of %d files could not be read", failed, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array, one object per file")
	rootCmd.AddCommand(cmd)
}

func printSummary(w io.Writer, s *format.Summary) {
	row := func(k, f string, a ...any) { fmt.Fprintf(w, "%-12s %s\n", k+":", fmt.Sprintf(f, a...)) }
	row("file", "%s", s.Path)
	row("format", "%s (%s)", s.Format, s.Status)
	node := s.Node
	var details []string
	for _, d := range []string{s.Implementation, s.ImplementationVersion, s.Network} {
		if d != "" {
			details = append(details, d)
		}
	}
	if len(details) > 0 {
		node += " (" + strings.Join(details, ", ") + ")"
	}
	row("node", "%s", node)
	if s.Source != "" {
		row("source", "%s", s.Source)
	}
	if s.Recorder != "" {
		row("recorder", "%s", s.Recorder)
	}
	row("created", "%s", event.FormatTime(s.CreatedMs))
	rate := ""
	if s.DurationMs > 0 {
		rate = fmt.Sprintf(", %.1f/s", float64(s.Events)/(float64(s.DurationMs)/1000))
	}
	row("events", "%s%s", formatCount(s.Events), rate)
	if s.Events > 0 {
		row("time", "%s .. %s (%s)", event.FormatTime(s.MinEventTimeMs), event.FormatTime(s.MaxEventTimeMs), time.Duration(s.DurationMs)*time.Millisecond)
	}
	row("size", "%s compressed, %s raw, ratio %.2f, %.1f bytes/event", formatBytes(s.BytesCompressed), formatBytes(int64(s.BytesRaw)), s.CompressionRatio, s.BytesPerEvent)
	level := ""
	if s.CompressionLevel > 0 {
		level = fmt.Sprintf(" (zstd level %d)", s.CompressionLevel)
	}
	row("frames", "%d%s", s.Frames, level)
	var flags []string
	if s.LowData {
		flags = append(flags, "low-data")
	}
	if s.Sanitized {
		flags = append(flags, fmt.Sprintf("sanitized (key %s)", s.Sanitization.GetKeyFingerprint()))
	}
	if s.Synthetic {
		flags = append(flags, fmt.Sprintf("synthetic (seed %d, anomalies %v)", s.SyntheticInfo.GetSeed(), s.SyntheticInfo.GetAnomalies()))
	}
	if f := s.Filter; f != nil && (len(f.Only) > 0 || len(f.Exclude) > 0) {
		flags = append(flags, fmt.Sprintf("filtered (only %v, exclude %v)", f.Only, f.Exclude))
	}
	if len(flags) > 0 {
		row("flags", "%s", strings.Join(flags, ", "))
	}
	for _, g := range s.Gaps {
		d := ""
		if g.Dropped > 0 {
			d = fmt.Sprintf(", %d events dropped", g.Dropped)
		}
		row("gap", "%s .. %s (%s) %s%s", event.FormatTime(g.StartMs), event.FormatTime(g.EndMs), time.Duration(g.EndMs-g.StartMs)*time.Millisecond, g.Reason, d)
	}
	if s.DroppedBytes > 0 {
		row("dropped", "%d bytes of torn tail", s.DroppedBytes)
	}
	for _, p := range s.Problems {
		row("problem", "%s", p)
	}
	printCounts(w, "kinds", s.Kinds, s.Events)
	printCounts(w, "messages", s.Commands, s.Kinds["netmsg"])
}

func printCounts(w io.Writer, title string, m map[string]uint64, total uint64) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range format.SortedKeys(m) {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(m[k]) / float64(total)
		}
		fmt.Fprintf(w, "  %-14s %12s %6.2f%%\n", k, formatCount(m[k]), pct)
	}
}

func printTotals(w io.Writer, sums []*format.Summary) {
	var events, raw uint64
	var comp int64
	kinds := map[string]uint64{}
	incomplete := 0
	for _, s := range sums {
		events += s.Events
		raw += s.BytesRaw
		comp += s.BytesCompressed
		for k, n := range s.Kinds {
			kinds[k] += n
		}
		if !s.Complete {
			incomplete++
		}
	}
	ratio := 0.0
	if comp > 0 {
		ratio = float64(raw) / float64(comp)
	}
	fmt.Fprintf(w, "total: %d files (%d incomplete), %s events, %s compressed, %s raw, ratio %.2f\n",
		len(sums), incomplete, formatCount(events), formatBytes(comp), formatBytes(int64(raw)), ratio)
	printCounts(w, "kinds", kinds, events)
}
