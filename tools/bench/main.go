// Command bench runs peertape's performance measurements and prints one
// table covering every performance target of the issues: events/s (wall
// and per CPU second), MB/s, bytes/event, peak RSS, CPU, ratios against
// the zstd CLI on the same data, each next to its target with met/missed.
// `make bench` runs it; -quick makes a smaller, shorter run.
//
// It generates a synthetic archive once with `peertape synth` (cached in
// -data), measures the CLI as users run it (wall time, CPU time and peak
// RSS from rusage of the child, GOMAXPROCS=1 for "one core"), and runs the
// packages' Go benchmarks with GOMAXPROCS=1, collecting the metrics they
// report. The table also goes to DATA/table.md as Markdown for the README.
//
// The build machine is shared (2 cores, other test runs): wall-clock rates
// then understate what one core does. Rows that process a batch are judged
// on events per CPU second of the (single-threaded) process when that is
// known; rows whose rate is set by a publisher or the clock are judged on
// wall time. The load average at start and end is printed with the table.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
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
	events   = flag.Int("events", 0, "events in the synthetic archive (default 5,000,000; 1,000,000 with -quick)")
	rate     = flag.Int("rate", 1300, "events per second of event time in the archive")
	quick    = flag.Bool("quick", false, "smaller archive, Go benchmarks with -short, no compaction, zstd -19 only if cached, no 1,000-file replay")
	bin      = flag.String("bin", "bin/peertape", "peertape binary (built if missing; BENCH_REBUILD=1 rebuilds)")
	jsonPath = flag.String("json", "", "also write the results as JSON to this file")
	mdPath   = flag.String("md", "", "write the table as Markdown to this file (default DATA/table.md)")
	only     = flag.String("only", "", "run only the steps whose name matches this regexp (cli:..., go:PKG)")
	skipGo   = flag.Bool("skip-go", false, "skip the Go benchmarks (CLI measurements only)")
)

// row is one line of the results table.
type row struct {
	Issue        string  `json:"issue"`
	What         string  `json:"what"`
	EventsPerS   float64 `json:"events_per_s,omitempty"`
	EventsPerCPU float64 `json:"events_per_cpu_s,omitempty"`
	MBPerS       float64 `json:"mb_per_s,omitempty"`
	BytesPerEv   float64 `json:"bytes_per_event,omitempty"`
	PeakRSSMiB   float64 `json:"peak_rss_mib,omitempty"`
	CPUPercent   float64 `json:"cpu_percent,omitempty"`
	VsZstd       string  `json:"vs_zstd,omitempty"`
	Other        string  `json:"other,omitempty"`
	Target       string  `json:"target,omitempty"`
	Met          *bool   `json:"met,omitempty"`
	// metrics holds every figure a Go benchmark reported, by unit.
	metrics map[string]float64
}

var (
	rows                  []row
	loadStart, loadEnd    string
	started               = time.Now()
	nEvents               int64
	zstdDcMBs             float64 // per CPU second
	zstdDcWallMBs         float64
	skipped               []string
	stepRe                *regexp.Regexp
	archiveMiB, rawMiBAll float64
)

func add(r row) { rows = append(rows, r) }

func check(ok bool) *bool { return &ok }

// rate returns the figure a throughput target is judged on: events per CPU
// second when measured (one core's worth, whatever the machine's load),
// otherwise wall-clock events/s.
func (r row) rate() float64 {
	if r.EventsPerCPU > 0 {
		return r.EventsPerCPU
	}
	return r.EventsPerS
}

func main() {
	flag.Parse()
	if *events == 0 {
		*events = 5_000_000
		if *quick {
			*events = 1_000_000
		}
	}
	if *mdPath == "" {
		*mdPath = filepath.Join(*dataDir, "table.md")
	}
	if *only != "" {
		stepRe = regexp.MustCompile(*only)
	}
	loadStart = loadavg()
	err := run()
	loadEnd = loadavg()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	printTable()
	if err != nil {
		os.Exit(1)
	}
}

func want(step string) bool { return stepRe == nil || stepRe.MatchString(step) }

func run() error {
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	if err := build(); err != nil {
		return err
	}
	live, err := filepath.Abs(filepath.Join(*dataDir, fmt.Sprintf("live-%d", *events)))
	if err != nil {
		return err
	}
	if err := ensureArchive(live); err != nil {
		return err
	}
	info, err := archiveInfo(live)
	if err != nil {
		return err
	}
	nEvents = info.events
	archiveMiB, rawMiBAll = mib(info.compressed), mib(info.raw)
	logf("archive %s: %d events, %.1f MiB compressed, %.1f MiB raw", live, info.events, mib(info.compressed), mib(info.raw))

	if err := cliRows(live, info); err != nil {
		return err
	}
	if *skipGo {
		skipped = append(skipped, "Go benchmarks (-skip-go)")
	} else if err := goRows(live); err != nil {
		finishZstd19()
		return err
	}
	return finishZstd19()
}

var (
	liveRow, compactRow           = -1, -1
	liveSize, z3Size, compactSize int64
	rawPath                       string
)

// finishZstd19 adds the zstd -19 --long=27 reference and judges the size
// targets against it.
func finishZstd19() error {
	if rawPath == "" || liveRow < 0 {
		return nil
	}
	if *quick && !exists(rawPath+".zstd19long27.size") {
		skipped = append(skipped, "zstd -19 --long=27 reference (-quick, not cached)")
		return nil
	}
	z19, _, err := zstdSize(rawPath, "19long27", "-19", "--long=27")
	if err != nil {
		return err
	}
	ev := float64(nEvents)
	ref := row{Issue: "3", What: "zstd -19 --long=27 of the raw record stream (reference size)", BytesPerEv: float64(z19) / ev,
		Other: fmt.Sprintf("%.2fx raw", float64(size(rawPath))/float64(z19))}
	rows = append(rows[:liveRow], append([]row{ref}, rows[liveRow:]...)...)
	liveRow++
	if compactRow >= 0 {
		compactRow++
	}
	vs := func(n int64) string {
		return fmt.Sprintf("%.2fx -19L, %.2fx -3", float64(n)/float64(z19), float64(n)/float64(z3Size))
	}
	r := &rows[liveRow]
	r.VsZstd = vs(liveSize)
	r.Target, r.Met = "≤ 1.35x zstd -19 --long=27", check(float64(liveSize)/float64(z19) <= 1.35)
	if compactRow >= 0 {
		r := &rows[compactRow]
		r.VsZstd = vs(compactSize)
		r.Met = check(*r.Met && float64(compactSize)/float64(z19) <= 1.2)
	}
	return nil
}

// cliRows measures the binary and the zstd CLI on the archive.
func cliRows(live string, info archive) error {
	ev := float64(info.events)
	// A directory of this run's own: two runs at once must not share it.
	tmp, err := os.MkdirTemp(*dataDir, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// References: the raw record stream and what the zstd CLI makes of it.
	raw := filepath.Join(*dataDir, fmt.Sprintf("raw-%d.bin", *events))
	if !exists(raw) {
		if err := shell(fmt.Sprintf("zstd -q -dc %s/*.seg.zst > %s.tmp && mv %s.tmp %s", live, raw, raw, raw)); err != nil {
			return err
		}
	}
	rawSize := size(raw)
	zdc, err := measure("zstd", append([]string{"-q", "-dc", "-T1", "--"}, segs(live)...)...)
	if err != nil {
		return err
	}
	zstdDcMBs = float64(rawSize) / 1e6 / zdc.cpu.Seconds()
	zstdDcWallMBs = float64(rawSize) / 1e6 / zdc.wall.Seconds()
	add(row{Issue: "3", What: "zstd -dc segments > /dev/null (reference read speed)", EventsPerS: ev / zdc.wall.Seconds(), EventsPerCPU: ev / zdc.cpu.Seconds(),
		MBPerS: zstdDcMBs, PeakRSSMiB: zdc.rssMiB, CPUPercent: zdc.cpuPercent(), Other: fmt.Sprintf("%.0f MB/s wall; MB/s column per CPU-s", float64(rawSize)/1e6/zdc.wall.Seconds())})

	z3, z3r, err := zstdSize(raw, "3", "-3")
	if err != nil {
		return err
	}
	add(row{Issue: "3", What: "zstd -3 of the raw record stream (reference size)", BytesPerEv: float64(z3) / ev, EventsPerS: ev / z3r.wall.Seconds(), EventsPerCPU: ev / z3r.cpu.Seconds(),
		MBPerS: float64(rawSize) / 1e6 / z3r.cpu.Seconds(), PeakRSSMiB: z3r.rssMiB, Other: fmt.Sprintf("%.2fx raw", float64(rawSize)/float64(z3))})
	// zstd -19 --long=27 takes many minutes on the full archive; it runs
	// last (finishZstd19), so a cached figure or one computed meanwhile is
	// used and the rest of the table does not wait for it.
	liveRow = len(rows)
	add(row{Issue: "3", What: "live segments (synth, default level 3, 1 s flushes)", BytesPerEv: float64(info.compressed) / ev,
		VsZstd: fmt.Sprintf("%.2fx -3", float64(info.compressed)/float64(z3)),
		Other:  fmt.Sprintf("%.1f MiB, %d segments", mib(info.compressed), len(segs(live)))})
	liveSize, z3Size, rawPath = info.compressed, z3, raw

	// Writing: synth (generate + write) and import (read upstream + write).
	if want("cli:synth") {
		out := filepath.Join(tmp, "synth")
		dur := time.Duration(float64(*events)/float64(*rate)*float64(time.Second)) + time.Minute
		m, err := measure(*bin, "synth", "-o", out, "--node", "bench", "--duration", dur.String(), "--rate", strconv.Itoa(*rate), "--seed", "1")
		if err != nil {
			return err
		}
		r := cliRow("3", "write: peertape synth (generate + write; RSS is mostly the simulator's)", m, ev, info.raw)
		r.BytesPerEv = float64(dirSize(out)) / ev
		add(r)
		os.RemoveAll(out)
	}
	if want("cli:import") {
		up := filepath.Join(*dataDir, fmt.Sprintf("upstream-%d.bin.zst", *events))
		if !exists(up) {
			if err := shell(fmt.Sprintf("zstd -q -1 -T1 -c %s > %s.tmp && mv %s.tmp %s", raw, up, up, up)); err != nil {
				return err
			}
		}
		out := filepath.Join(tmp, "import")
		m, err := measure(*bin, "import", up, "-o", out, "--node", "bench")
		if err != nil {
			return err
		}
		r := cliRow("3", "write: peertape import (read zstd -1 upstream archive + write segments, level 3)", m, ev, info.raw)
		r.BytesPerEv = float64(dirSize(out)) / ev
		add(r.with("≥ 500,000 ev/s, writer RSS ≤ 100 MiB", r.rate() >= 500_000 && m.rssMiB <= 100))
		os.RemoveAll(out)
	}

	// Reading through the CLI.
	if want("cli:cat") {
		m, err := measure(*bin, "cat", live)
		if err != nil {
			return err
		}
		r := cliRow("3", "read: cat > /dev/null (full decode, text lines)", m, ev, info.raw)
		add(r.with("≥ 500,000 ev/s", r.rate() >= 500_000))
		m, err = measure(*bin, "cat", "--json", live)
		if err != nil {
			return err
		}
		add(cliRow("3", "read: cat --json > /dev/null", m, ev, info.raw))
	}
	if want("cli:verify") {
		m, err := measure(*bin, "verify", live)
		if err != nil {
			return err
		}
		r := cliRow("3", "read: verify (records + index + checksums, no decode)", m, ev, info.raw)
		r.VsZstd = fmt.Sprintf("%.2fx -dc MB/s", r.MBPerS/zstdDcMBs)
		add(r)
	}
	if want("cli:seek") {
		mid := info.minTime + (info.maxTime-info.minTime)/2
		// Best of 5: a cold start of the binary should not decide it.
		var first, start time.Duration
		var cpu time.Duration
		for i := 0; i < 5; i++ {
			f, c, err := firstLine(*bin, "cat", "--from", strconv.FormatInt(mid, 10), live)
			if err != nil {
				return err
			}
			s, _, err := firstLine(*bin, "--version")
			if err != nil {
				return err
			}
			if i == 0 || f < first {
				first, cpu = f, c
			}
			if i == 0 || s < start {
				start = s
			}
		}
		add(row{Issue: "3", What: fmt.Sprintf("seek: cat --from middle, time to first event (whole process, %.0f MiB archive)", mib(info.compressed)),
			Other:  fmt.Sprintf("%.1f ms wall (%.1f ms CPU), of which %.1f ms starting the binary (peertape --version); best of 5", ms(first), ms(cpu), ms(start)),
			Target: "< 50 ms", Met: check(ms(first) < 50)})
	}
	if want("cli:compact") {
		if *quick {
			skipped = append(skipped, "compact (-quick)")
		} else {
			cdir := filepath.Join(tmp, "compacted")
			if err := shell(fmt.Sprintf("cp -r %s %s", live, cdir)); err != nil {
				return err
			}
			m, err := measure(*bin, "compact", cdir)
			if err != nil {
				return err
			}
			compactSize = dirSize(cdir)
			r := cliRow("3", "compact (level 19, large frames)", m, ev, info.raw)
			r.BytesPerEv = float64(compactSize) / ev
			r.VsZstd = fmt.Sprintf("%.2fx -3", float64(compactSize)/float64(z3))
			compactRow = len(rows)
			add(r.with("≤ 1.2x zstd -19 --long=27, RSS ≤ 256 MiB", m.rssMiB <= 256))
			os.RemoveAll(cdir)
		}
	}

	// Replay and the analyzers (issues 5 and 6).
	if want("cli:replay") {
		m, err := measure(*bin, "replay", "--speed", "max", "--null", live)
		if err != nil {
			return err
		}
		r := cliRow("5", "replay --speed max --null", m, ev, info.raw)
		add(r.with("≥ 1,000,000 ev/s, RSS < 100 MiB", r.rate() >= 1_000_000 && m.rssMiB < 100))
		m, err = measure(*bin, "replay", "--speed", "max", "--null", "--metrics-out", os.DevNull, live)
		if err != nil {
			return err
		}
		r = cliRow("6", "replay --speed max --null --metrics-out (all analyzers)", m, ev, info.raw)
		add(r.with("≥ 200,000 ev/s", r.rate() >= 200_000))
	}
	if want("cli:analyze") {
		m, err := measure(*bin, "analyze", "--json", live)
		if err != nil {
			return err
		}
		r := cliRow("6", "analyze --json (all analyzers, anomaly report)", m, ev, info.raw)
		add(r.with("≥ 200,000 ev/s", r.rate() >= 200_000))
	}

	// Editing tools (issue 9).
	if want("cli:edit") {
		key := filepath.Join(tmp, "key")
		if err := runCmd(*bin, "sanitize", "--new-key", key); err != nil {
			return err
		}
		m, err := measure(*bin, "sanitize", live, "-o", filepath.Join(tmp, "san"), "--key-file", key)
		if err != nil {
			return err
		}
		r := cliRow("9", "sanitize (pseudonymise every address, re-encode, level 3)", m, ev, info.raw)
		add(r.with("≥ 200,000 ev/s", r.rate() >= 200_000))
		os.RemoveAll(filepath.Join(tmp, "san"))

		m, err = measure(*bin, "filter", live, "-o", filepath.Join(tmp, "ftime"), "--from", "+10m", "--to", "+50m")
		if err != nil {
			return err
		}
		r = cliRow("9", "filter --from +10m --to +50m (whole frames copied; rate over input events)", m, ev, info.raw)
		add(r.with("≥ 1,000,000 ev/s", r.rate() >= 1_000_000))
		os.RemoveAll(filepath.Join(tmp, "ftime"))

		m, err = measure(*bin, "filter", live, "-o", filepath.Join(tmp, "fkind"), "--only", "netmsg,netconn")
		if err != nil {
			return err
		}
		add(cliRow("9", "filter --only netmsg,netconn (selected records re-compressed)", m, ev, info.raw))
		os.RemoveAll(filepath.Join(tmp, "fkind"))

		parts := filepath.Join(tmp, "parts")
		m, err = measure(*bin, "split", live, "-o", parts, "--every", "20m")
		if err != nil {
			return err
		}
		add(cliRow("9", "split --every 20m", m, ev, info.raw))
		m, err = measure(*bin, "merge", parts, "-o", filepath.Join(tmp, "merged"))
		if err != nil {
			return err
		}
		r = cliRow("9", "merge of the split parts (no overlap: frames copied)", m, ev, info.raw)
		add(r.with("≥ 1,000,000 ev/s", r.rate() >= 1_000_000))
		os.RemoveAll(parts)
		os.RemoveAll(filepath.Join(tmp, "merged"))
	}
	return nil
}

// cliRow turns a measured run over n events (raw bytes) into a row.
func cliRow(issue, what string, m result, n float64, raw int64) row {
	return row{Issue: issue, What: what, EventsPerS: n / m.wall.Seconds(), EventsPerCPU: n / m.cpu.Seconds(),
		MBPerS: float64(raw) / 1e6 / m.cpu.Seconds(), PeakRSSMiB: m.rssMiB, CPUPercent: m.cpuPercent(),
		Other: fmt.Sprintf("%.1f s wall, %.1f s CPU", m.wall.Seconds(), m.cpu.Seconds())}
}

func (r row) with(target string, ok bool) row {
	r.Target, r.Met = target, check(ok)
	return r
}

// zstdSize compresses raw with the zstd CLI (one thread) and caches the
// size, since -19 --long=27 takes minutes.
func zstdSize(raw, tag string, args ...string) (int64, result, error) {
	cache := raw + ".zstd" + tag + ".size"
	if b, err := os.ReadFile(cache); err == nil {
		var n int64
		var w, c int64
		var rss float64
		if _, err := fmt.Sscan(string(b), &n, &w, &c, &rss); err == nil {
			return n, result{wall: time.Duration(w), cpu: time.Duration(c), rssMiB: rss}, nil
		}
	}
	logf("zstd %s on %.0f MiB (cached afterwards)...", strings.Join(args, " "), mib(size(raw)))
	out := raw + "." + tag + ".zst"
	m, err := measure("zstd", append(append([]string{"-q", "-f", "-T1"}, args...), raw, "-o", out)...)
	if err != nil {
		return 0, m, err
	}
	n := size(out)
	os.Remove(out)
	os.WriteFile(cache, []byte(fmt.Sprintf("%d %d %d %f\n", n, m.wall, m.cpu, m.rssMiB)), 0o644)
	return n, m, nil
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

// measure runs a command on one core (GOMAXPROCS=1) with stdout to
// /dev/null and reports wall time, CPU time (user + system) and peak RSS.
// ru_maxrss is accurate here because this process stays small.
func measure(name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout = nil // the null device itself, as "> /dev/null" (io.Discard would be a pipe)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	logf("%s %s", name, strings.Join(args, " "))
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

// firstLine runs a command (GOMAXPROCS=1) and returns the wall time until
// its first line of output and its CPU time until then; the rest of the
// output is discarded and the process killed.
func firstLine(name string, args ...string) (time.Duration, time.Duration, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	_, err = bufio.NewReader(out).ReadString('\n')
	took := time.Since(start)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: no output: %w", name, strings.Join(args, " "), err)
	}
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return took, cpu, nil
}

// goBench is one `go test -bench` invocation.
type goBench struct {
	pkg, re, benchtime, quickBenchtime string
	skipQuick                          bool
}

// goBenches are the packages' benchmarks (see /work/notes/*-make.md of each
// area). Whole-archive benchmarks do all their work in one iteration (1x);
// micro benchmarks get a time budget.
var goBenches = []goBench{
	{pkg: "./format", re: "Write|ReadRecords|ReadDecode|SeekMiddle", benchtime: "1x"},
	{pkg: "./event", re: "AppendTextLine|AppendJSONLine|Wire|DecodeText|DecodeOnly|Parse$", benchtime: "1x"},
	{pkg: "./synth", re: "Generate", benchtime: "1x"},
	{pkg: "./record", re: "RecorderConsume|PublishToDurable", benchtime: "1x"},
	{pkg: "./cmd/peertape", re: "Record50k|RecordDemoRate", benchtime: "1x"},
	{pkg: "./replay", re: "ReplayNull|ReplayNATS|ReplayMerge8|Pacing", benchtime: "1x"},
	{pkg: "./cmd/peertape", re: "ReplayCLINull|ReplayCLIEmbeddedNATS|ReplayCLIPacing", benchtime: "1x"},
	{pkg: "./cmd/peertape", re: "ReplayCLI1000Files", benchtime: "1x", skipQuick: true},
	{pkg: "./analyze", re: "Engine$", benchtime: "1000000x", quickBenchtime: "200000x"},
	{pkg: "./analyze", re: "Scrape|Sampler", benchtime: "20x"},
	{pkg: "./sanitize", re: "Archive|Sanitize$", benchtime: "1x"},
	{pkg: "./sanitize", re: "Text|IPv4Uncached|IPv6Uncached", benchtime: "1s", quickBenchtime: "200ms"},
	{pkg: "./edit", re: ".", benchtime: "1x"},
	{pkg: "./extract/ebpf", re: "Load", benchtime: "1000000x", quickBenchtime: "200000x"},
	{pkg: "./extract/ebpf", re: "DecodeRecord", benchtime: "1000000x"},
	{pkg: "./extract/log ./extract/p2p ./extract/rpc", re: ".", benchtime: "1s", quickBenchtime: "200ms"},
}

// target is the performance target of a Go benchmark row.
type target struct {
	name, text string
	ok         func(r row) bool
}

var targets = []target{
	{"format.BenchmarkWrite", "≥ 500,000 ev/s", func(r row) bool { return r.rate() >= 500_000 }},
	{"format.BenchmarkReadRecords", "≥ 3,000,000 ev/s, ≥ 0.7x zstd -dc MB/s", func(r row) bool {
		return r.rate() >= 3_000_000 && r.MBPerS >= 0.7*zstdRef(r)
	}},
	{"format.BenchmarkReadDecode", "≥ 500,000 ev/s", func(r row) bool { return r.rate() >= 500_000 }},
	{"format.BenchmarkSeekMiddle", "< 50 ms", func(r row) bool { return r.metrics["ms/seek"] < 50 }},
	{"event.BenchmarkWireText", "≥ 500,000 ev/s (cat's per-event rendering)", func(r row) bool { return r.rate() >= 500_000 }},
	{"cmd/peertape.BenchmarkRecord50k", "50,000 ev/s for 60 s, 0 drops", func(r row) bool {
		return r.EventsPerS >= 49_500 && r.metrics["drops"] == 0
	}},
	{"cmd/peertape.BenchmarkRecordDemoRate/per-event", "< 2 % of a core, < 50 MiB RSS", func(r row) bool {
		return r.CPUPercent < 2 && r.PeakRSSMiB < 50
	}},
	{"replay.BenchmarkReplayNull", "≥ 1,000,000 ev/s", func(r row) bool { return r.rate() >= 1_000_000 }},
	{"replay.BenchmarkReplayNATS", "≥ 300,000 ev/s", func(r row) bool { return r.rate() >= 300_000 }},
	{"cmd/peertape.BenchmarkReplayCLINull", "RSS < 100 MiB", func(r row) bool { return r.PeakRSSMiB < 100 }},
	{"cmd/peertape.BenchmarkReplayCLI1000Files", "RSS < 100 MiB", func(r row) bool { return r.PeakRSSMiB < 100 }},
	{"cmd/peertape.BenchmarkReplayCLIEmbeddedNATS", "≥ 300,000 ev/s", func(r row) bool { return r.EventsPerS >= 300_000 }},
	{"analyze.BenchmarkEngine", "≥ 200,000 ev/s", func(r row) bool { return r.rate() >= 200_000 }},
	{"analyze.BenchmarkScrape", "< 50 ms", func(r row) bool { return r.metrics["ms/scrape"] < 50 }},
	{"analyze.BenchmarkScrapeOpenMetrics", "< 50 ms", func(r row) bool { return r.metrics["ms/scrape"] < 50 }},
	{"sanitize.BenchmarkArchive", "≥ 200,000 ev/s", func(r row) bool { return r.rate() >= 200_000 }},
	{"edit.BenchmarkFilterKinds", "≥ 1,000,000 ev/s", func(r row) bool { return r.rate() >= 1_000_000 }},
	{"edit.BenchmarkFilterPeer", "≥ 1,000,000 ev/s", func(r row) bool { return r.rate() >= 1_000_000 }},
	{"extract/ebpf.BenchmarkLoad", "≥ 200,000 ev/s, 0 lost", func(r row) bool {
		return r.EventsPerS >= 200_000 && r.metrics["lost"] == 0
	}},
}

// zstdRef is zstd -dc's MB/s on the same basis as r's: per CPU second,
// or wall-clock when r has no CPU figure (then both suffer the load).
func zstdRef(r row) float64 {
	if r.EventsPerCPU > 0 {
		return zstdDcMBs
	}
	return zstdDcWallMBs
}

// issueOf maps a package to the issue whose targets its benchmarks carry.
func issueOf(pkg, name string) string {
	switch {
	case pkg == "format" || pkg == "event" || pkg == "synth":
		return "3"
	case strings.HasPrefix(pkg, "extract/ebpf"):
		return "7"
	case pkg == "record" || strings.Contains(name, "Record"):
		return "4"
	case pkg == "replay" || strings.Contains(name, "Replay"):
		return "5"
	case pkg == "analyze":
		return "6"
	case strings.HasPrefix(pkg, "extract/ebpf"):
		return "7"
	case strings.HasPrefix(pkg, "extract"):
		return "8"
	case pkg == "sanitize" || pkg == "edit":
		return "9"
	}
	return ""
}

func goRows(archive string) error {
	var failed []string
	for _, g := range goBenches {
		step := "go:" + g.pkg + ":" + g.re
		if !want(step) {
			continue
		}
		if *quick && g.skipQuick {
			skipped = append(skipped, fmt.Sprintf("%s -bench '%s' (-quick)", g.pkg, g.re))
			continue
		}
		bt := g.benchtime
		if *quick && g.quickBenchtime != "" {
			bt = g.quickBenchtime
		}
		res, err := runGoBench(archive, g, bt)
		for i := range res {
			r := &res[i]
			for _, t := range targets {
				if r.What == t.name || strings.HasPrefix(r.What, t.name+"/") {
					r.Target, r.Met = t.text, check(t.ok(*r))
				}
			}
			if strings.HasPrefix(r.What, "format.BenchmarkRead") && r.MBPerS > 0 && zstdDcMBs > 0 {
				r.VsZstd = fmt.Sprintf("%.2fx -dc MB/s", r.MBPerS/zstdRef(*r))
			}
			if ns := r.metrics["extractor-cpu-ns/event"]; ns > 0 {
				r.EventsPerCPU = 1e9 / ns // the extractor's own CPU per event; the firing program's probes cost the rest
			}
			if r.Met != nil && r.EventsPerCPU == 0 && r.EventsPerS > 0 && strings.Contains(r.Target, "ev/s") {
				r.Target += " [wall]"
			}
		}
		rows = append(rows, res...)
		if err != nil {
			logf("%v", err)
			failed = append(failed, g.pkg+" "+g.re)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

var (
	benchLine   = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)
	figuresLine = regexp.MustCompile(`^\s*(\d+)\s+(\S+ ns/op.*)$`)
)

// runGoBench runs one `go test -bench` on one core and turns each result
// into a row. Benchmarks report events/s, bytes/event etc. with
// b.ReportMetric.
func runGoBench(archive string, g goBench, benchtime string) ([]row, error) {
	args := []string{"test", "-run", "^$", "-bench", g.re, "-benchtime", benchtime, "-count", "1", "-timeout", "30m"}
	if *quick {
		args = append(args, "-short")
	}
	args = append(args, strings.Fields(g.pkg)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "PEERTAPE_BENCH_ARCHIVE="+archive)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf("GOMAXPROCS=1 go %s", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var res []row
	pkg, pending := "", ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/peertape/peertape/")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil && pending != "" {
			// The name and the figures were split by a log line the
			// benchmark printed (extract/ebpf's "attached to bitcoind").
			if fm := figuresLine.FindStringSubmatch(line); fm != nil {
				m = []string{line, pending, fm[1], fm[2]}
			}
		}
		if m == nil {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
				pending = f[0]
			}
			if strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- SKIP") ||
				strings.HasPrefix(line, "    ") {
				fmt.Fprintln(os.Stderr, line)
			}
			continue
		}
		pending = ""
		r := row{Issue: issueOf(pkg, m[1]), What: pkg + "." + m[1], metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		var extra []string
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			unit := f[i+1]
			r.metrics[unit] = v
			switch unit {
			case "events/s":
				r.EventsPerS = v
			case "events/cpu-s":
				r.EventsPerCPU = v
			case "MB/s":
				r.MBPerS = v
			case "bytes/event":
				r.BytesPerEv = v
			case "peak-RSS-MiB", "RSS-MiB":
				r.PeakRSSMiB = v
			case "CPU-%", "cpu%":
				r.CPUPercent = v
			case "ns/op", "B/op", "allocs/op", "events/op":
			default:
				extra = append(extra, fmt.Sprintf("%s %s", trimFloat(v), unit))
			}
		}
		if n, _ := strconv.Atoi(m[2]); n > 1 && r.metrics["ns/op"] > 0 && r.EventsPerS == 0 {
			extra = append(extra, fmt.Sprintf("%s ns/op", trimFloat(r.metrics["ns/op"])))
		}
		r.Other = strings.Join(extra, ", ")
		res = append(res, r)
	}
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("go test -bench %s %s: %w", g.re, g.pkg, err)
	}
	return res, nil
}

var header = []string{"issue", "what", "events/s (wall)", "events/CPU-s", "MB/s", "bytes/event", "peak RSS MiB", "CPU %", "vs zstd", "other", "target", "met"}

func (r row) cells() []string {
	met := ""
	if r.Met != nil {
		met = map[bool]string{true: "yes", false: "MISSED"}[*r.Met]
	}
	return []string{"#" + r.Issue, r.What, num(r.EventsPerS, 0), num(r.EventsPerCPU, 0), num(r.MBPerS, 1), num(r.BytesPerEv, 1),
		num(r.PeakRSSMiB, 1), num(r.CPUPercent, 1), r.VsZstd, r.Other, r.Target, met}
}

func printTable() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t")+"\t")
	}
	tw.Flush()
	notes := notesText()
	fmt.Println()
	fmt.Println(notes)
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		os.WriteFile(*jsonPath, b, 0o644)
	}
	var md strings.Builder
	md.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i >= 2 && i <= 7 {
			md.WriteString("---:|")
		} else {
			md.WriteString("---|")
		}
	}
	md.WriteString("\n")
	for _, r := range rows {
		c := r.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", "\\|")
		}
		md.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	md.WriteString("\n" + notes + "\n")
	if err := os.WriteFile(*mdPath, []byte(md.String()), 0o644); err != nil {
		logf("%v", err)
	}
}

func notesText() string {
	var b strings.Builder
	met, missed := 0, 0
	for _, r := range rows {
		if r.Met != nil {
			if *r.Met {
				met++
			} else {
				missed++
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "%d targets met, %d missed. Archive: %d synthetic events (%.0f MiB compressed, %.0f MiB raw). Run %s on %s, %s, load average %s at start, %s at end (the 2 cores are shared).\n",
		met, missed, nEvents, archiveMiB, rawMiBAll, time.Since(started).Round(time.Second), host, time.Now().UTC().Format("2006-01-02"), loadStart, loadEnd)
	b.WriteString("Everything runs with GOMAXPROCS=1. events/CPU-s is events per CPU second (user + system) of the process: one core's worth, which load from other processes does not inflate; throughput targets are judged on it where measured, rates set by a publisher or the clock on wall time; [wall] marks throughput targets judged on wall time because the benchmark reports no CPU figure (a lower bound on a loaded box). MB/s is raw (uncompressed) record bytes per CPU second for the CLI rows.\n")
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "Skipped: %s.\n", strings.Join(skipped, "; "))
	}
	return b.String()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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
