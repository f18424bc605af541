package format

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peertape/peertape/proto/pb"
)

// fakeClock is a settable clock for WriterOptions.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Frames close by age: with timed flushes off the writer checks the age
// every 1024 events; each frame then holds the events of one age period
// (rounded up to the check), and everything reads back.
func TestFrameClosedByAge(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	evs := testEvents(t, 5000, 21, 1_700_000_000_000)
	dir := t.TempDir()
	path := filepath.Join(dir, "age.seg.zst")
	var closed int
	w, err := Create(path, WriterOptions{FlushInterval: -1, FrameAge: time.Minute, Now: clk.Now,
		Meta: &pb.SegmentMeta{Node: "n1"}, Hooks: Hooks{FrameClosed: func(*pb.FrameInfo) { closed++ }}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		clk.Add(100 * time.Millisecond) // 1024 events = 102.4 s > 1 min
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.Stats(); st.Frames != 4 {
		t.Fatalf("%d frames closed by age before Close, want 4 (one per 1024 events)", st.Frames)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, r := readAll(t, path)
	sameEvents(t, got, evs)
	frames := r.Index().Frames
	if len(frames) != 5 || closed != 5 {
		t.Fatalf("%d frames in the index (%d FrameClosed hooks), want 5", len(frames), closed)
	}
	for i, fi := range frames[:4] {
		if fi.Events != 1024 {
			t.Errorf("frame %d holds %d events, want 1024", i, fi.Events)
		}
	}
}

// With timed flushes on, the flusher closes a frame once it is older than
// FrameAge, even when no more events arrive.
func TestFrameClosedByAgeWhileIdle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "idle.seg.zst")
	w, err := Create(path, WriterOptions{FlushInterval: 10 * time.Millisecond, FrameAge: 50 * time.Millisecond, Meta: &pb.SegmentMeta{Node: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(t, 50, 22, 1_700_000_000_000)
	for _, ev := range evs {
		w.Append(ev)
	}
	poll(t, "frame closed by age", func() bool { return w.Stats().Frames >= 1 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, path)
	sameEvents(t, got, evs)
}

// The flusher hands complete blocks to the file every FlushInterval with
// no Flush call: a copy of the .partial taken then (what kill -9 leaves)
// holds every event appended before.
func TestTimedFlushReachesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.seg.zst")
	var mu sync.Mutex
	flushes := 0
	w, err := Create(path, WriterOptions{FlushInterval: 20 * time.Millisecond, Meta: &pb.SegmentMeta{Node: "n1"},
		Hooks: Hooks{Flushed: func() { mu.Lock(); flushes++; mu.Unlock() }}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	evs := testEvents(t, 2000, 23, 1_700_000_000_000)
	for _, ev := range evs {
		w.Append(ev)
	}
	crash := filepath.Join(dir, "crash.seg.zst.partial")
	var got int
	poll(t, "every event readable from the .partial", func() bool {
		copyFile(t, path+PartialSuffix, crash)
		evs2, _ := readAll(t, crash)
		got = len(evs2)
		return got == len(evs)
	})
	evs2, _ := readAll(t, crash)
	sameEvents(t, evs2, evs)
	mu.Lock()
	defer mu.Unlock()
	if flushes < 2 { // the header at Create, then the events
		t.Fatalf("%d flushes", flushes)
	}
}

// Each fsync policy syncs when it says it does.
func TestFsyncPolicy(t *testing.T) {
	evs := testEvents(t, 30, 24, 1_700_000_000_000)
	for _, tc := range []struct {
		policy FsyncPolicy
		// fsyncs after each of 3 flushes 4 s apart, and after Close
		want []int
	}{
		{FsyncAlways, []int{1, 2, 3, 5}}, // Close: the last frame, then index and trailer
		{FsyncSegment, []int{0, 0, 0, 1}},
		{FsyncInterval, []int{0, 0, 1, 2}}, // 10 s interval: the flush at 12 s
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			clk := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
			n := 0
			w, err := Create(filepath.Join(t.TempDir(), "s.seg.zst"), WriterOptions{FlushInterval: -1, Fsync: tc.policy,
				FsyncInterval: 10 * time.Second, Now: clk.Now, Meta: &pb.SegmentMeta{Node: "n1"},
				Hooks: Hooks{Fsynced: func(time.Duration) { n++ }}})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i := 0; i < 3; i++ {
				clk.Add(4 * time.Second)
				for _, ev := range evs[i*10 : i*10+10] {
					w.Append(ev)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if !equalInts(got, tc.want) {
				t.Fatalf("fsyncs after each step %v, want %v", got, tc.want)
			}
		})
	}
	for _, s := range []string{"always", "interval", "segment", ""} {
		if _, err := ParseFsyncPolicy(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseFsyncPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("bad policy: %v", err)
	}
}

// Compact of a segment whose data is damaged fails and leaves the original
// byte for byte, with no temporary files behind.
func TestCompactKeepsOriginalOnDamage(t *testing.T) {
	dir := t.TempDir()
	evs := testEvents(t, 4000, 25, 1_700_000_000_000)
	path := writeSegment(t, dir, "d.seg.zst", evs, WriterOptions{FrameSize: 32 << 10})
	_, r := readAll(t, path)
	fi := r.Index().Frames[2]
	data := mustRead(t, path)
	data[fi.Offset+fi.CompressedLen/2] ^= 0x55
	os.WriteFile(path, data, 0o644)
	_, err := Compact(path, CompactOptions{Level: 3})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("compact of a damaged segment: %v", err)
	}
	if !bytes.Equal(mustRead(t, path), data) {
		t.Fatal("the original changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files left behind: %v", ents)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// poll waits for cond with a deadline (no fixed sleeps).
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
