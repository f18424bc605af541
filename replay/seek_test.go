package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// frames returns the index frames of a complete segment.
func frames(t testing.TB, path string) []*pb.FrameInfo {
	t.Helper()
	r, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Index() == nil {
		t.Fatalf("%s has no index", path)
	}
	return r.Index().Frames
}

// corruptFrame overwrites bytes in the middle of data frame i.
func corruptFrame(t testing.TB, path string, i int) *pb.FrameInfo {
	t.Helper()
	fi := frames(t, path)[i]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mid := int(fi.Offset + fi.CompressedLen/2)
	for j := mid - 8; j < mid+8; j++ {
		b[j] ^= 0x5a
	}
	writeFile(t, path, b)
	return fi
}

// TestSeekEqualsScan: --from/--to give exactly the events in [from, to)
// that a full replay gives, in the same order, for indexed segments (with
// many frames), .partial files and peer-observer archives mixed.
func TestSeekEqualsScan(t *testing.T) {
	dir := t.TempDir()
	a := writeSeg(t, dir, "a.seg.zst", "alpha", everyKind(t, 4000, t0), 4096)
	b := writePartial(t, dir, "b.seg.zst", "beta", everyKind(t, 1500, t0+1000))
	c := writeUpstream(t, dir, "gamma.20260407-090713-133.bin.zst", everyKind(t, 1000, t0+3500))
	paths := []string{a, b, c}
	full := readAll(t, open(t, paths))
	fr := frames(t, a)
	if len(fr) < 10 {
		t.Fatalf("want many frames to seek over, got %d", len(fr))
	}
	mid := fr[len(fr)/2]
	abs := func(ms int64) event.TimeSpec { return event.AbsTime(ms) }
	rel := func(s string) event.TimeSpec {
		ts, err := event.ParseTimeSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for _, tc := range []struct {
		name     string
		from, to event.TimeSpec
	}{
		{"middle", abs(t0 + 1200), abs(t0 + 2600)},
		{"frame boundaries", abs(mid.MinTimeMs), abs(mid.MaxTimeMs + 1)},
		{"inside one frame", abs(mid.MinTimeMs + 1), abs(mid.MaxTimeMs)},
		{"one millisecond", abs(t0 + 1999), abs(t0 + 2000)},
		{"from only", abs(t0 + 3990), event.TimeSpec{}},
		{"to only", event.TimeSpec{}, abs(t0 + 10)},
		{"offsets", rel("+1s"), rel("+3.5s")},
		{"before everything", abs(t0 - 10_000), abs(t0 + 5)},
		{"after everything", abs(t0 + 100_000), abs(t0 + 200_000)},
		{"covering everything", abs(t0 - 1), abs(t0 + 100_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t, paths, From(tc.from), To(tc.to))
			from, to := r.Range()
			var want []event.Event
			for _, ev := range full {
				if (from == 0 || ev.Time >= from) && (to == 0 || ev.Time < to) {
					want = append(want, ev)
				}
			}
			got := readAll(t, r)
			sameStream(t, got, want)
			if r.Problems() != 0 {
				t.Errorf("%d problems", r.Problems())
			}
		})
	}
}

// TestSeekSkipsFramesByIndex: frames before --from are never decoded, so
// damage there goes unnoticed, while a full replay reports it.
func TestSeekSkipsFramesByIndex(t *testing.T) {
	dir := t.TempDir()
	evs := everyKind(t, 4000, t0)
	p := writeSeg(t, dir, "a.seg.zst", "alpha", evs, 4096)
	clean := readAll(t, open(t, []string{p}))
	bad := corruptFrame(t, p, 2)
	from := bad.MaxTimeMs + 1

	var problems []error
	r := open(t, []string{p}, From(event.AbsTime(from)), OnProblem(func(err error) { problems = append(problems, err) }))
	got := readAll(t, r)
	var want []event.Event
	for _, ev := range clean {
		if ev.Time >= from {
			want = append(want, ev)
		}
	}
	sameStream(t, got, want)
	if len(problems) != 0 {
		t.Errorf("seeking past the damaged frame decoded it: %v", problems)
	}

	problems = nil
	readAll(t, open(t, []string{p}, OnProblem(func(err error) { problems = append(problems, err) })))
	if len(problems) == 0 {
		t.Error("a full replay did not report the damaged frame")
	}
}

// TestDamagedFrame: a damaged frame in the middle of a segment is reported
// (file and frame) and skipped; every other frame and the next file replay.
func TestDamagedFrame(t *testing.T) {
	dir := t.TempDir()
	evs := everyKind(t, 3000, t0)
	p := writeSeg(t, dir, "a-1.seg.zst", "alpha", evs, 4096)
	next := writeSeg(t, dir, "a-2.seg.zst", "alpha", everyKind(t, 100, t0+3000), 0)
	fi := corruptFrame(t, p, 3)

	var problems []error
	r := open(t, []string{p, next}, Speed(Max), OnProblem(func(err error) { problems = append(problems, err) }))
	c := &collector{}
	st := run(t, r, c)

	// Every event outside the damaged frame comes out, in order.
	lost := map[int]bool{}
	for i := int(fi.FirstEvent); i < int(fi.FirstEvent+fi.Events); i++ {
		lost[i] = true
	}
	j := 0
	for i, ev := range evs {
		if lost[i] {
			continue
		}
		for j < len(c.evs) && string(c.evs[j].Raw) != string(ev.Raw) {
			j++
		}
		if j == len(c.evs) {
			t.Fatalf("event %d (frame outside the damage) missing or out of order", i)
		}
		j++
	}
	if got := c.evs[len(c.evs)-1]; got.Time != t0+3099 {
		t.Errorf("the next file was not replayed to its end: last event at %d", got.Time)
	}
	if len(problems) == 0 || st.Problems != len(problems) {
		t.Fatalf("problems %v, stats say %d", problems, st.Problems)
	}
	var ce *format.CorruptError
	if !errors.As(problems[0], &ce) || ce.Frame != 3 || !strings.HasSuffix(ce.Path, "a-1.seg.zst") {
		t.Errorf("problem %v: want a *format.CorruptError for frame 3 of a-1.seg.zst", problems[0])
	}
}

// TestTornTails: a .partial or peer-observer archive cut off mid-write
// replays every complete record before the cut.
func TestTornTails(t *testing.T) {
	dir := t.TempDir()
	evs := everyKind(t, 2000, t0)
	for _, tc := range []struct {
		name string
		path string
	}{
		{"partial", writePartial(t, dir, "p.seg.zst", "n", evs)},
		{"upstream zst", writeUpstream(t, dir, "up.20260407-090713-000.bin.zst", evs)},
		{"upstream raw", writeUpstream(t, dir, "raw.20260407-090713-000.bin", evs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, tc.path, b[:len(b)*2/3])
			var logBuf bytes.Buffer
			r := open(t, []string{tc.path}, WithLogger(slog.New(slog.NewJSONHandler(&logBuf, nil))))
			got := readAll(t, r)
			// The torn tail is logged with its size, once, and is not a problem.
			var l struct {
				Msg   string `json:"msg"`
				File  string `json:"file"`
				Bytes int64  `json:"bytes"`
			}
			if err := json.Unmarshal(logBuf.Bytes(), &l); err != nil || l.File != tc.path || l.Bytes <= 0 || r.Problems() != 0 {
				t.Fatalf("torn tail log %q (%v), problems %d", logBuf.String(), err, r.Problems())
			}
			if len(got) == 0 || len(got) >= len(evs) {
				t.Fatalf("got %d of %d events", len(got), len(evs))
			}
			for i, ev := range got {
				if string(ev.Raw) != string(evs[i].Raw) {
					t.Fatalf("event %d is not the recorded one", i)
				}
			}
		})
	}
}

// TestRandomDamageNeverPanics: random byte damage anywhere in any kind of
// file never panics or stops the replay with an error.
func TestRandomDamageNeverPanics(t *testing.T) {
	dir := t.TempDir()
	evs := everyKind(t, 1500, t0)
	origs := map[string][]byte{}
	for _, p := range []string{
		writeSeg(t, dir, "s.seg.zst", "n", evs, 2048),
		writePartial(t, dir, "p.seg.zst", "n", evs),
		writeUpstream(t, dir, "u.20260407-090713-000.bin.zst", evs),
		writeUpstream(t, dir, "r.20260407-090713-000.bin", evs),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		origs[p] = b
	}
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < rounds; round++ {
		var paths []string
		for p, orig := range origs {
			b := append([]byte(nil), orig...)
			for k := 0; k < 1+rng.IntN(4); k++ {
				at := rng.IntN(len(b))
				for j := at; j < min(len(b), at+1+rng.IntN(64)); j++ {
					b[j] = byte(rng.Uint32())
				}
			}
			if rng.IntN(3) == 0 {
				b = b[:rng.IntN(len(b))+1]
			}
			writeFile(t, p, b)
			paths = append(paths, p)
		}
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("round %d: panic %v", round, v)
				}
			}()
			r, err := Open(paths, Speed(Max), OnProblem(func(error) {}))
			if err != nil {
				if errors.Is(err, ErrNoFiles) {
					return
				}
				t.Fatalf("round %d: %v", round, err)
			}
			defer r.Close()
			if err := r.Run(t.Context(), &collector{}); err != nil {
				t.Fatalf("round %d: run: %v", round, err)
			}
		}()
	}
}
