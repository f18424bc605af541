package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/synth"
)

func init() {
	var (
		outDir    string
		node      string
		duration  seconds
		rate      float64
		seed      uint64
		start     string
		anomalies []string
		segment   seconds = seconds(time.Hour)
		level     int
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "synth -o DIR --node NAME --duration D [--rate EV_PER_S] [--seed N] [--start RFC3339] [--anomaly KIND@OFFSET[:DURATION]]...",
		Short: "Write a deterministic synthetic archive shaped like a mainnet node's stream",
		Long: `synth generates the event stream of a simulated Bitcoin Core mainnet
honeynode with peer-observer's eBPF, RPC, p2p and log extractors attached,
and writes it as segments into DIR: P2P messages with real payloads and
sizes, connection churn, a mempool, a block about every 10 minutes, RPC
polls every 10 s and 120 s, p2p-extractor pings, debug.log lines. The
same options give byte-identical files; the metadata marks them
synthetic with the seed, rate, duration and anomalies.

Anomalies (KIND@OFFSET[:DURATION], offsets from the start, durations as
Go durations or seconds; repeat the flag for several):
  ping-backlog   the node's pong delays and p2p-extractor pings grow to 8 s (default 5m)
  inbound-flood  a burst of inbound connections from one /24 (default 2m)
  misbehaving    1.5 misbehaving peers a second (default 2m)
  mutated-block  BlockChecked bad-txnmrklroot / bad-witness-nonce-size every 20 s (default 2m)
  orphan-flood   the orphanage fills up, many announcers per orphan (default 5m)
  reject-spike   25 mempool rejections a second (default 2m)
See "go doc github.com/peertape/peertape/synth" for exactly what each injects.`,
		Example: `  peertape synth -o demo/ --node mainnet-1 --duration 30m
  peertape synth -o fixtures/ping --node n1 --duration 20m --rate 300 --seed 7 --anomaly ping-backlog@8m:5m
  peertape synth -o bench/ --node bench --duration 1h5m --anomaly inbound-flood@10m --anomaly orphan-flood@40m:5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return usagef("-o DIR is required")
			}
			if node == "" {
				return usagef("--node NAME is required")
			}
			if duration <= 0 {
				return usagef("--duration is required (e.g. 30m)")
			}
			o := synth.Options{Node: node, Duration: time.Duration(duration), Rate: rate, Seed: seed}
			if start != "" {
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usagef("--start %q: want RFC 3339, e.g. 2026-03-02T00:00:00Z", start)
				}
				o.Start = t
			}
			for _, s := range anomalies {
				a, err := synth.ParseAnomaly(s)
				if err != nil {
					return usageError{err}
				}
				o.Anomalies = append(o.Anomalies, a)
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			bar := newProgress(cmd.ErrOrStderr(), "synth", int64(o.Duration/time.Second), false)
			began := time.Now()
			rep, err := synth.WriteArchive(cmd.Context(), outDir, o, synth.ArchiveOptions{
				SegmentDuration: time.Duration(segment),
				Writer:          format.WriterOptions{Level: level},
				Recorder:        "peertape " + version,
				Progress:        func(d time.Duration, _ uint64) { bar.Set(int64(d / time.Second)) },
			})
			bar.Done()
			if rep == nil || (err != nil && rep.Events == 0) {
				return err
			}
			took := time.Since(began)
			if asJSON {
				if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(synthJSON(o, rep, took)); jerr != nil {
					return jerr
				}
			} else {
				printSynthSummary(cmd, outDir, rep, took)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&outDir, "output", "o", "", "directory for the segments (created if missing; existing files are never overwritten)")
	f.StringVar(&node, "node", "", "node name, in the metadata and the file names")
	f.Var(&duration, "duration", "event time to generate (Go duration or seconds)")
	f.Float64Var(&rate, "rate", synth.DefaultRate, fmt.Sprintf("baseline events per second of event time (%d..%d); anomalies add theirs", synth.MinRate, synth.MaxRate))
	f.Uint64Var(&seed, "seed", 1, "random seed: the same seed and options give the same files")
	f.StringVar(&start, "start", "", "event time of the start, RFC 3339 (default "+synth.DefaultStart.Format(time.RFC3339)+")")
	f.StringArrayVar(&anomalies, "anomaly", nil, "inject KIND@OFFSET[:DURATION] (repeatable)")
	f.Var(&segment, "segment-duration", "start a new segment every this much event time")
	f.IntVar(&level, "level", format.DefaultLevel, "zstd compression level 1..22")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	rootCmd.AddCommand(cmd)
}

type synthAnomalyJSON struct {
	Anomaly string   `json:"anomaly"`
	Kind    string   `json:"kind"`
	StartMs int64    `json:"start_ms"`
	EndMs   int64    `json:"end_ms"`
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Count   int      `json:"count"`
	Subnet  string   `json:"subnet,omitempty"`
	Peers   []uint64 `json:"peers,omitempty"`
}

type synthReportJSON struct {
	Files         []string           `json:"files"`
	Node          string             `json:"node"`
	Seed          uint64             `json:"seed"`
	Rate          float64            `json:"rate"`
	StartMs       int64              `json:"start_ms"`
	DurationMs    int64              `json:"duration_ms"`
	Events        uint64             `json:"events"`
	AnomalyEvents uint64             `json:"anomaly_events"`
	BytesRaw      int64              `json:"bytes_raw"`
	Bytes         int64              `json:"bytes_compressed"`
	Blocks        int                `json:"blocks"`
	Transactions  uint64             `json:"transactions"`
	Connections   uint64             `json:"connections"`
	Anomalies     []synthAnomalyJSON `json:"anomalies"`
	Seconds       float64            `json:"seconds"`
}

func synthJSON(o synth.Options, rep *synth.ArchiveReport, took time.Duration) synthReportJSON {
	out := synthReportJSON{Files: rep.Files, Node: o.Node, Seed: o.Seed, Rate: o.Rate, StartMs: o.Start.UnixMilli(),
		DurationMs: o.Duration.Milliseconds(), Events: rep.Events, AnomalyEvents: rep.Stats.AnomalyEvents,
		BytesRaw: rep.RawBytes, Bytes: rep.Bytes, Blocks: rep.Stats.Blocks, Transactions: rep.Stats.TxAccepted,
		Connections: rep.Stats.Connections, Anomalies: []synthAnomalyJSON{}, Seconds: took.Seconds()}
	if out.StartMs == 0 {
		out.StartMs = synth.DefaultStart.UnixMilli()
	}
	for _, in := range rep.Stats.Injected {
		out.Anomalies = append(out.Anomalies, synthAnomalyJSON{Anomaly: in.Anomaly.String(), Kind: string(in.Anomaly.Kind),
			StartMs: in.StartMs, EndMs: in.EndMs, Start: rfc3339ms(in.StartMs), End: rfc3339ms(in.EndMs),
			Count: in.Count, Subnet: in.Subnet, Peers: in.Peers})
	}
	return out
}

func rfc3339ms(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func printSynthSummary(cmd *cobra.Command, dir string, rep *synth.ArchiveReport, took time.Duration) {
	w := cmd.OutOrStdout()
	segs := "segments"
	if len(rep.Files) == 1 {
		segs = "segment"
	}
	ratio := float64(rep.RawBytes) / float64(max(rep.Bytes, 1))
	fmt.Fprintf(w, "wrote %s events (%s raw, %s in %d %s, %.1fx) to %s in %s (%s events/s): %d blocks, %s transactions, %s connections\n",
		formatCount(rep.Events), formatBytes(rep.RawBytes), formatBytes(rep.Bytes), len(rep.Files), segs, ratio,
		filepath.Clean(dir), took.Round(10*time.Millisecond), formatCount(uint64(float64(rep.Events)/max(took.Seconds(), 1e-3))),
		rep.Stats.Blocks, formatCount(rep.Stats.TxAccepted), formatCount(rep.Stats.Connections))
	for _, in := range rep.Stats.Injected {
		what := ""
		if in.Count > 0 {
			what = fmt.Sprintf(", %d injected", in.Count)
		}
		if in.Subnet != "" {
			what += " from " + in.Subnet
		}
		fmt.Fprintf(w, "  %s %s .. %s%s: peertape cat %s --from %s --to %s\n", in.Anomaly, rfc3339ms(in.StartMs), rfc3339ms(in.EndMs),
			what, filepath.Clean(dir), rfc3339ms(in.StartMs), rfc3339ms(in.EndMs))
	}
}
