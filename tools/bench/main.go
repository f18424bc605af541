// Command bench runs peertape's performance measurements and prints one
// table: events/s, MB/s, bytes/event, peak RSS and ratios against the zstd
// CLI on the same data, each next to its target. `make bench` runs it.
//
// It generates a synthetic archive once (cached in -data), measures the
// CLI as users run it (wall time, CPU time and peak RSS from rusage of the
// child process), and runs every package's Go benchmarks with GOMAXPROCS=1
// ("one core"), collecting the metrics they report.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

var (
	dataDir  = flag.String("data", "bench-data", "directory for generated archives (kept between runs)")
	events   = flag.Int("events", 5_000_000, "events in the synthetic archive")
	rate     = flag.Int("rate", 1300, "events per second of event time in the archive")
	pkgs     = flag.String("pkgs", "./...", "packages whose Go benchmarks run")
	benchRe  = flag.String("bench", ".", "Go benchmark regexp")
	quick    = flag.Bool("quick", false, "skip the slow zstd -19 reference and compaction")
	bin      = flag.String("bin", "bin/peertape", "peertape binary (built if missing)")
	jsonPath = flag.String("json", "", "also write the results as JSON to this file")
)

// row is one line of the results table.
type row struct {
	What        string  `json:"what"`
	EventsPerS  float64 `json:"events_per_s,omitempty"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerEv  float64 `json:"bytes_per_event,omitempty"`
	PeakRSSMiB  float64 `json:"peak_rss_mib,omitempty"`
	CPUPercent  float64 `json:"cpu_percent,omitempty"`
	VsZstd      float64 `json:"vs_zstd,omitempty"`
	Other       string  `json:"other,omitempty"`
	Target      string  `json:"target,omitempty"`
	Met         *bool   `json:"met,omitempty"`
	FromGoBench bool    `json:"-"`
}

var rows []row

func add(r row) { rows = append(rows, r) }

func check(ok bool) *bool { return &ok }

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		printTable()
		os.Exit(1)
	}
	printTable()
}

func run() error {
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	if err := build(); err != nil {
		return err
	}
	live := filepath.Join(*dataDir, fmt.Sprintf("live-%d", *events))
	if err := ensureArchive(live); err != nil {
		return err
	}
	info, err := archiveInfo(live)
	if err != nil {
		return err
	}
	logf("archive %s: %d events, %.1f MiB compressed, %.1f MiB raw", live, info.events, mib(info.compressed), mib(info.raw))

	// Reference: the raw record stream and what the zstd CLI makes of it.
	raw := filepath.Join(*dataDir, fmt.Sprintf("raw-%d.bin", *events))
	if !exists(raw) {
		if err := shell(fmt.Sprintf("zstd -q -dc %s/*.seg.zst > %s", live, raw)); err != nil {
			return err
		}
	}
	rawSize := size(raw)
	zdc, err := measure("zstd", append([]string{"-q", "-dc", "-T1", "--"}, segs(live)...)...)
	if err != nil {
		return err
	}
	zstdMBs := float64(rawSize) / 1e6 / zdc.wall.Seconds()
	add(row{What: "zstd -dc (reference decompression)", MBPerS: zstdMBs, EventsPerS: float64(info.events) / zdc.wall.Seconds(), PeakRSSMiB: zdc.rssMiB})

	var z19 int64
	if !*quick {
		cache := raw + ".zstd19long27.size"
		if b, err := os.ReadFile(cache); err == nil {
			z19, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		} else {
			logf("zstd -19 --long=27 on %.0f MiB (slow, cached afterwards)...", mib(rawSize))
			out := raw + ".zst19"
			if _, err := measure("zstd", "-q", "-f", "-19", "--long=27", "-T1", raw, "-o", out); err != nil {
				return err
			}
			z19 = size(out)
			os.Remove(out)
			os.WriteFile(cache, []byte(strconv.FormatInt(z19, 10)), 0o644)
		}
		add(row{What: "zstd -19 --long=27 (reference size)", BytesPerEv: float64(z19) / float64(info.events)})
		ratio := float64(info.compressed) / float64(z19)
		add(row{What: "live segments (default level, 1 s flushes) vs zstd -19 --long=27", BytesPerEv: float64(info.compressed) / float64(info.events),
			VsZstd: ratio, Target: "≤ 1.35x", Met: check(ratio <= 1.35)})
	}

	// Writer: import an upstream archive into segments at the default level.
	up := filepath.Join(*dataDir, fmt.Sprintf("upstream-%d.bin.zst", *events))
	if !exists(up) {
		if err := shell(fmt.Sprintf("zstd -q -1 -T1 -c %s > %s", raw, up)); err != nil {
			return err
		}
	}
	out := filepath.Join(*dataDir, "import-out")
	os.RemoveAll(out)
	imp, err := measure(*bin, "import", up, "-o", out, "--node", "bench")
	if err != nil {
		return err
	}
	add(row{What: "write: import upstream -> segments (read + write, default level)", EventsPerS: float64(info.events) / imp.wall.Seconds(),
		MBPerS: float64(rawSize) / 1e6 / imp.wall.Seconds(), PeakRSSMiB: imp.rssMiB, CPUPercent: imp.cpuPercent(),
		Target: "RSS ≤ 100 MiB", Met: check(imp.rssMiB <= 100)})
	os.RemoveAll(out)

	// Reading through the CLI.
	cat, err := measure(*bin, "cat", live)
	if err != nil {
		return err
	}
	catRate := float64(info.events) / cat.wall.Seconds()
	add(row{What: "cat > /dev/null (full decode, text lines)", EventsPerS: catRate, PeakRSSMiB: cat.rssMiB, CPUPercent: cat.cpuPercent(),
		Target: "≥ 500,000 ev/s", Met: check(catRate >= 500_000)})
	mid := info.minTime + (info.maxTime-info.minTime)/2
	seek, err := measure(*bin, "cat", "--from", strconv.FormatInt(mid, 10), "--to", strconv.FormatInt(mid+1, 10), live)
	if err != nil {
		return err
	}
	add(row{What: fmt.Sprintf("seek: cat --from middle (whole process, %.0f MiB archive)", mib(info.compressed)), Other: fmt.Sprintf("%.1f ms", ms(seek.wall)),
		Target: "< 50 ms", Met: check(ms(seek.wall) < 50)})

	if !*quick {
		cdir := filepath.Join(*dataDir, "compacted")
		os.RemoveAll(cdir)
		if err := shell(fmt.Sprintf("cp -r %s %s", live, cdir)); err != nil {
			return err
		}
		comp, err := measure(*bin, "compact", cdir)
		if err != nil {
			return err
		}
		csize := dirSize(cdir)
		ratio := float64(csize) / float64(z19)
		add(row{What: "compact (level 19, 64 MiB frames) vs zstd -19 --long=27", BytesPerEv: float64(csize) / float64(info.events), VsZstd: ratio,
			EventsPerS: float64(info.events) / comp.wall.Seconds(), PeakRSSMiB: comp.rssMiB, Target: "≤ 1.2x, RSS ≤ 256 MiB", Met: check(ratio <= 1.2 && comp.rssMiB <= 256)})
	}

	// Go benchmarks, one core.
	gb, err := goBench(live)
	if err != nil {
		return err
	}
	for i := range gb {
		r := &gb[i]
		if strings.Contains(r.What, "format.BenchmarkReadRecords") && r.MBPerS > 0 {
			r.VsZstd = r.MBPerS / zstdMBs
			r.Target = "≥ 3,000,000 ev/s, ≥ 0.7x zstd -dc MB/s"
			r.Met = check(r.EventsPerS >= 3_000_000 && r.VsZstd >= 0.7)
		}
		if strings.Contains(r.What, "format.BenchmarkWrite") {
			r.Target = "≥ 500,000 ev/s"
			r.Met = check(r.EventsPerS >= 500_000)
		}
		if strings.Contains(r.What, "format.BenchmarkReadDecode") {
			r.Target = "≥ 500,000 ev/s"
			r.Met = check(r.EventsPerS >= 500_000)
		}
	}
	rows = append(rows, gb...)
	return nil
}

func build() error {
	if exists(*bin) && os.Getenv("BENCH_REBUILD") == "" {
		return nil
	}
	logf("building %s", *bin)
	return runCmd("go", "build", "-o", *bin, "./cmd/peertape")
}

func ensureArchive(dir string) error {
	if len(segs(dir)) > 0 {
		return nil
	}
	dur := time.Duration(float64(*events)/float64(*rate)*float64(time.Second)) + time.Minute
	logf("generating %d events (%s at %d/s) into %s", *events, dur, *rate, dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := runCmd(*bin, "synth", "-o", tmp, "--node", "bench", "--duration", dur.String(), "--rate", strconv.Itoa(*rate), "--seed", "1"); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

type archive struct {
	events, raw, compressed int64
	minTime, maxTime        int64
}

func archiveInfo(dir string) (archive, error) {
	out, err := exec.Command(*bin, "info", "--json", dir).Output()
	if err != nil {
		return archive{}, fmt.Errorf("info: %w", err)
	}
	var sums []struct {
		Events  int64 `json:"events"`
		Raw     int64 `json:"bytes_raw"`
		Comp    int64 `json:"bytes_compressed"`
		MinTime int64 `json:"min_event_time_ms"`
		MaxTime int64 `json:"max_event_time_ms"`
	}
	if err := json.Unmarshal(out, &sums); err != nil {
		return archive{}, err
	}
	var a archive
	for i, s := range sums {
		a.events += s.Events
		a.raw += s.Raw
		a.compressed += s.Comp
		if i == 0 || s.MinTime < a.minTime {
			a.minTime = s.MinTime
		}
		a.maxTime = max(a.maxTime, s.MaxTime)
	}
	return a, nil
}

// result is what measure learns about a child process.
type result struct {
	wall, cpu time.Duration
	rssMiB    float64
}

func (r result) cpuPercent() float64 { return 100 * r.cpu.Seconds() / r.wall.Seconds() }

// measure runs a command with stdout to /dev/null and reports wall time,
// CPU time and peak RSS.
func measure(name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{wall: wall, cpu: cpu, rssMiB: float64(ru.Maxrss) / 1024}, nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// goBench runs the Go benchmarks on one core and turns each result into a
// row. Benchmarks report events/s, bytes/event etc. with b.ReportMetric.
func goBench(archive string) ([]row, error) {
	args := []string{"test", "-run", "^$", "-bench", *benchRe, "-benchtime", "1x", "-count", "1", "-timeout", "60m"}
	args = append(args, strings.Fields(*pkgs)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "PEERTAPE_BENCH_ARCHIVE="+archive)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf("go %s", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var res []row
	pkg := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/peertape/peertape/")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") {
				fmt.Fprintln(os.Stderr, line)
			}
			continue
		}
		r := row{What: pkg + "." + m[1], FromGoBench: true}
		f := strings.Fields(m[3])
		var extra []string
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch unit := f[i+1]; unit {
			case "events/s":
				r.EventsPerS = v
			case "MB/s":
				r.MBPerS = v
			case "bytes/event":
				r.BytesPerEv = v
			case "peak-RSS-MiB", "RSS-MiB":
				r.PeakRSSMiB = v
			case "CPU-%", "cpu%":
				r.CPUPercent = v
			case "ns/op", "B/op", "allocs/op":
			default:
				extra = append(extra, fmt.Sprintf("%s %s", trimFloat(v), unit))
			}
		}
		r.Other = strings.Join(extra, ", ")
		res = append(res, r)
	}
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("go test -bench: %w", err)
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].What < res[j].What })
	return res, nil
}

func printTable() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "what\tevents/s\tMB/s\tbytes/event\tpeak RSS MiB\tCPU %\tvs zstd\tother\ttarget\tmet\t")
	for _, r := range rows {
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.What, num(r.EventsPerS, 0), num(r.MBPerS, 1), num(r.BytesPerEv, 1),
			num(r.PeakRSSMiB, 1), num(r.CPUPercent, 1), ratio(r.VsZstd), r.Other, r.Target, met)
	}
	tw.Flush()
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		os.WriteFile(*jsonPath, b, 0o644)
	}
}

func num(v float64, prec int) string {
	if v == 0 {
		return ""
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if prec == 0 {
		return thousands(s)
	}
	return s
}

func ratio(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", v)
}

func thousands(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func segs(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg.zst"))
	sort.Strings(m)
	return m
}

func dirSize(dir string) int64 {
	var n int64
	for _, f := range segs(dir) {
		n += size(f)
	}
	return n
}

func size(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func logf(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }

func shell(script string) error { return runCmd("sh", "-c", script) }

func runCmd(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
