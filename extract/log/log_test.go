package log

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// collector records log messages; block, when set, holds Consume.
type collector struct {
	mu    sync.Mutex
	logs  []*pb.Log
	evs   []event.Event
	block chan struct{}
}

func (c *collector) Consume(ev event.Event) error {
	if c.block != nil {
		<-c.block
	}
	m, err := ev.Decode()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, m.GetLogExtractor())
	c.evs = append(c.evs, ev)
	return nil
}

func (c *collector) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.logs {
		switch {
		case l.GetUnknownLogMessage() != nil:
			out = append(out, l.GetUnknownLogMessage().GetRawMessage())
		case l.GetBlockConnectedLog() != nil:
			out = append(out, fmt.Sprintf("connected %d", l.GetBlockConnectedLog().GetBlockHeight()))
		case l.GetBlockCheckedLog() != nil:
			out = append(out, "checked "+l.GetBlockCheckedLog().GetState())
		}
	}
	return out
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts x into sink and returns a channel with Run's result and a
// stop function.
func run(t testing.TB, x *Extractor, sink event.Sink) (done <-chan error, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- x.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop")
		}
	})
	return ch, cancel
}

// TestCoreFixtures extracts the Core-shaped debug.log fixtures and compares
// every event with a golden rendering: one event per line, in order.
func TestCoreFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "fixtures", "core", "log", "*.log"))
	if len(files) < 3 {
		t.Fatalf("fixtures missing: %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			x, err := New(Options{Reader: bytes.NewReader(data), Node: "core", Logger: testLogger(t),
				Now: func() time.Time { return time.UnixMilli(1746180000000) }})
			if err != nil {
				t.Fatal(err)
			}
			c := &collector{}
			if err := x.Run(context.Background(), c); err != nil {
				t.Fatalf("Run at EOF: %v", err)
			}
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			if len(c.logs) != len(lines) {
				t.Fatalf("%d events for %d lines", len(c.logs), len(lines))
			}
			var b strings.Builder
			for i, l := range c.logs {
				j, err := protojson.MarshalOptions{}.Marshal(l)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(j)
				b.WriteByte('\n')
				if c.evs[i].Node != "core" || c.evs[i].Time != 1746180000000 || c.evs[i].Kind != event.Log {
					t.Fatalf("event %d: node %q time %d kind %v", i, c.evs[i].Node, c.evs[i].Time, c.evs[i].Kind)
				}
			}
			golden := filepath.Join("testdata", "golden", filepath.Base(file)+".jsonl")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			wantLines := strings.Split(strings.TrimRight(string(want), "\n"), "\n")
			if len(wantLines) != len(c.logs) {
				t.Fatalf("golden has %d lines, got %d events", len(wantLines), len(c.logs))
			}
			for i, wl := range wantLines {
				w := new(pb.Log)
				if err := protojson.Unmarshal([]byte(wl), w); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(w, c.logs[i]) {
					t.Errorf("line %d: %q\n got  %v\n want %v", i+1, lines[i], c.logs[i], w)
				}
			}
		})
	}
}

func TestLineTime(t *testing.T) {
	x, err := New(Options{Reader: strings.NewReader("2025-05-02T10:11:12.345678Z hi\nno time\n"), LineTime: true,
		Now: func() time.Time { return time.UnixMilli(42) }})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	if err := x.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if c.evs[0].Time != 1746180672345 || c.evs[1].Time != 42 {
		t.Fatalf("event times %d, %d: want the line's ms, then the clock for a line without time", c.evs[0].Time, c.evs[1].Time)
	}
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

const ts = "2025-05-02T10:00:00Z "

// newFollower starts a file follower and waits until it opened the file
// (or, for a missing file, until it is waiting).
func newFollower(t *testing.T, path string, fromStart bool, reg prometheus.Registerer) (*collector, <-chan error) {
	t.Helper()
	opened := make(chan struct{}, 16)
	x, err := New(Options{File: path, FromStart: fromStart, PollInterval: 5 * time.Millisecond, MaxLineBytes: 100,
		Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	x.opened = func() { opened <- struct{}{} }
	x.missing = func() { opened <- struct{}{} }
	c := &collector{}
	done, _ := run(t, x, c)
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("follower neither opened the file nor found it missing")
	}
	return c, done
}

func TestFollowFromEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.log")
	appendFile(t, path, ts+"old line\n"+ts+"half a li")
	c, _ := newFollower(t, path, false, nil)
	appendFile(t, path, "ne being written\n"+ts+"new line\n"+ts+"split ")
	appendFile(t, path, "in two writes\n")
	waitFor(t, 10*time.Second, "two lines", func() bool { return len(c.messages()) == 2 })
	if got := c.messages(); got[0] != "new line" || got[1] != "split in two writes" {
		t.Fatalf("got %q: the old line and the tail of the half line must be skipped", got)
	}
}

func TestFollowFromStartRotateTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "debug.log")
	appendFile(t, path, ts+"one\n"+ts+"two\n")
	reg := prometheus.NewRegistry()
	c, _ := newFollower(t, path, true, reg)
	waitFor(t, 10*time.Second, "the existing lines", func() bool { return len(c.messages()) == 2 })

	// logrotate: rename, the node still writes to the old file until it
	// reopens, then writes the new one.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", ts+"three (old file, after the rename)\n")
	appendFile(t, path, ts+"four (new file)\n")
	waitFor(t, 10*time.Second, "lines from both files", func() bool { return len(c.messages()) == 4 })

	// Truncation in place (copytruncate, or Core shrinking debug.log).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, ts+"five\n")
	waitFor(t, 10*time.Second, "the line after truncation", func() bool { return len(c.messages()) == 5 })
	want := []string{"one", "two", "three (old file, after the rename)", "four (new file)", "five"}
	if got := c.messages(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}

	// A line beyond MaxLineBytes is cut, kept and counted.
	appendFile(t, path, ts+strings.Repeat("x", 300)+"\n"+ts+"after\n")
	waitFor(t, 10*time.Second, "the long line and the next", func() bool { return len(c.messages()) == 7 })
	if got := c.messages()[5]; len(got) != 100-len(ts) {
		t.Errorf("long line kept as %d bytes of message, want the first 100 bytes of the line", len(got))
	}
	for name, want := range map[string]float64{"peertape_log_rotations_total": 1, "peertape_log_truncations_total": 1,
		"peertape_log_truncated_lines_total": 1, "peertape_log_lines_total": 7} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestFollowMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.log")
	c, _ := newFollower(t, path, false, nil)
	// Created after the follower started: read whole, even from the end.
	appendFile(t, path, ts+"first line of a new node\n")
	waitFor(t, 10*time.Second, "the line of the file that appeared", func() bool { return len(c.messages()) == 1 })
}

func TestFollowNotRegular(t *testing.T) {
	x, err := New(Options{File: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Run(context.Background(), &collector{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Run on a directory: %v", err)
	}
}

func TestFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 1)
	x, err := New(Options{FIFO: path, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	x.opened = func() { opened <- struct{}{} }
	c := &collector{}
	run(t, x, c)
	<-opened
	// Two writers one after the other, as a restarted bitcoind would be.
	for i, lines := range []string{ts + "from the first writer\n", ts + "from the second writer\n"} {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, lines)
		w.Close()
		waitFor(t, 10*time.Second, "the writer's line", func() bool { return len(c.messages()) == i+1 })
	}

	// A regular file is refused as a FIFO.
	reg := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(reg, nil, 0o644)
	y, _ := New(Options{FIFO: reg})
	if err := y.Run(context.Background(), &collector{}); err == nil || !strings.Contains(err.Error(), "not a FIFO") {
		t.Fatalf("Run on a regular file as FIFO: %v", err)
	}
}

// TestFIFOSlowSinkNeverBlocksWriter: with the sink stuck, the writer can
// still push megabytes through the pipe; lines beyond the buffer are
// dropped and counted instead.
func TestFIFOSlowSinkNeverBlocksWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opened := make(chan struct{}, 1)
	x, err := New(Options{FIFO: path, StreamBuffer: 100, Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	x.opened = func() { opened <- struct{}{} }
	c := &collector{block: make(chan struct{})}
	run(t, x, c)
	<-opened
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := ts + strings.Repeat("y", 100) + "\n"
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 40000 && err == nil; i++ { // ~4.8 MB, far beyond a pipe's 64 KiB
			_, err = io.WriteString(w, line)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the writer blocked behind a stuck sink")
	}
	close(c.block)
	waitFor(t, 10*time.Second, "drops to be counted", func() bool { return metricValue(t, reg, "peertape_log_dropped_lines_total") > 0 })
}

func TestReaderEOFAndSinkErrors(t *testing.T) {
	x, _ := New(Options{Reader: strings.NewReader(ts + "a\n" + ts + "last line without newline")})
	c := &collector{}
	if err := x.Run(context.Background(), c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := c.messages(); len(got) != 2 || got[1] != "last line without newline" {
		t.Fatalf("got %q", got)
	}
	boom := errors.New("boom")
	y, _ := New(Options{Reader: strings.NewReader(ts + "a\n")})
	if err := y.Run(context.Background(), event.SinkFunc(func(event.Event) error { return boom })); !errors.Is(err, boom) {
		t.Fatalf("sink error: %v", err)
	}
	z, _ := New(Options{Reader: strings.NewReader(ts + "a\n" + ts + "b\n")})
	if err := z.Run(context.Background(), event.SinkFunc(func(event.Event) error { return event.ErrStop })); err != nil {
		t.Fatalf("ErrStop: %v", err)
	}
	if _, err := New(Options{File: "a", FIFO: "b"}); err == nil {
		t.Fatal("two sources accepted")
	}
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}
