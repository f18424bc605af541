package replay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/event"
)

// segOf writes one segment with events at times and returns its path.
func segOf(t testing.TB, times ...int64) string {
	t.Helper()
	return writeSeg(t, t.TempDir(), "n.seg.zst", "n", tagged(t, 0, times...), 0)
}

// sentAt runs a replay of times on a fake clock and returns the offset of
// each send from the first.
func sentAt(t *testing.T, clock *fakeClock, times []int64, opts ...Option) ([]time.Duration, Stats) {
	t.Helper()
	r := open(t, []string{segOf(t, times...)}, append([]Option{WithClock(clock)}, opts...)...)
	c := &collector{clock: clock}
	st := run(t, r, c)
	out := make([]time.Duration, len(c.at))
	for i, at := range c.at {
		out[i] = at.Sub(c.at[0])
	}
	return out, st
}

// TestPaceSchedule: every event is sent exactly at start + (t − t0)/speed.
func TestPaceSchedule(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	times := []int64{t0}
	for i := 0; i < 2000; i++ {
		times = append(times, times[len(times)-1]+int64(rng.IntN(40))) // bursts and pauses
	}
	for _, speed := range []float64{1, 0.5, 3, 10, 100} {
		t.Run(fmt.Sprint(speed), func(t *testing.T) {
			clock := newFakeClock()
			at, st := sentAt(t, clock, times, Speed(speed))
			for i, got := range at {
				want := time.Duration(float64(times[i]-times[0]) * float64(time.Millisecond) / speed)
				if d := got - want; d < -time.Microsecond || d > time.Microsecond {
					t.Fatalf("event %d sent at +%v, want +%v", i, got, want)
				}
			}
			if st.LagMax > time.Microsecond {
				t.Errorf("lag max %v with a punctual clock", st.LagMax)
			}
			if st.Paced != uint64(len(times)) {
				t.Errorf("paced %d of %d", st.Paced, len(times))
			}
			span := time.Duration(times[len(times)-1]-times[0]) * time.Millisecond
			if st.EventTime != span || st.Wall != at[len(at)-1] {
				t.Errorf("event time %v (want %v), wall %v (want %v)", st.EventTime, span, st.Wall, at[len(at)-1])
			}
			if d := st.Achieved - speed; d < -speed/1000 || d > speed/1000 {
				t.Errorf("achieved speed %v, want %v", st.Achieved, speed)
			}
		})
	}
}

// TestPaceNoDrift: every sleep wakes 2 ms late, yet the error never
// accumulates: each event is at most one overshoot behind its schedule.
func TestPaceNoDrift(t *testing.T) {
	clock := newFakeClock()
	clock.overshoot = 2 * time.Millisecond
	var times []int64
	for i := 0; i < 1000; i++ {
		times = append(times, t0+int64(i)*10)
	}
	at, st := sentAt(t, clock, times)
	for i, got := range at {
		want := time.Duration(i) * 10 * time.Millisecond
		if d := got - want; d < 0 || d > 2*time.Millisecond {
			t.Fatalf("event %d sent at +%v, want +%v (+ at most one overshoot)", i, got, want)
		}
	}
	if st.LagP50 < time.Millisecond || st.LagP99 > 2*time.Millisecond+time.Millisecond/8 {
		t.Errorf("lag p50 %v p99 %v, want about the 2ms overshoot", st.LagP50, st.LagP99)
	}
}

// TestPaceCatchUp: behind a slow sink the replay sends without sleeping
// until it has caught up, then keeps the original schedule.
func TestPaceCatchUp(t *testing.T) {
	clock := newFakeClock()
	var times []int64
	for i := 0; i < 100; i++ {
		times = append(times, t0+int64(i)) // 1 ms apart
	}
	for i := 0; i < 10; i++ {
		times = append(times, t0+1000+int64(i)*100) // later, 100 ms apart
	}
	r := open(t, []string{segOf(t, times...)}, WithClock(clock))
	c := &collector{clock: clock}
	c.each = func(i int, _ event.Event) {
		if i < 100 {
			clock.Advance(5 * time.Millisecond) // the sink takes 5 ms per event
		}
	}
	st := run(t, r, c)
	if n := clock.Sleeps(); n != 10 {
		// Behind during the burst: no sleeps until event 100, which is due
		// at +1 s while the burst took 500 ms; then one sleep per event.
		t.Errorf("%d sleeps, want 10", n)
	}
	for i := 100; i < 110; i++ {
		want := time.Second + time.Duration(i-100)*100*time.Millisecond
		if got := c.at[i].Sub(c.at[0]); got != want {
			t.Errorf("event %d after catching up sent at +%v, want +%v", i, got, want)
		}
	}
	// Event i of the burst is due at i ms and sent at 5i ms.
	if want := 99 * 4 * time.Millisecond; st.LagMax != want {
		t.Errorf("lag max %v, want %v", st.LagMax, want)
	}
}

// TestPaceBackward: a record earlier than the running maximum is sent at
// once, right after its predecessor; the pacer never sleeps backwards.
func TestPaceBackward(t *testing.T) {
	clock := newFakeClock()
	at, st := sentAt(t, clock, []int64{t0, t0 + 100, t0 + 40, t0 + 90, t0 + 200})
	want := []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("sent at %v, want %v", at, want)
	}
	if st.Backward != 2 {
		t.Errorf("backward %d, want 2", st.Backward)
	}
}

// TestSkipGaps: quiet stretches longer than the limit take the limit.
func TestSkipGaps(t *testing.T) {
	clock := newFakeClock()
	h := int64(time.Hour / time.Millisecond)
	at, st := sentAt(t, clock, []int64{t0, t0 + 1000, t0 + 2000, t0 + h, t0 + h + 1000, t0 + h + 4000}, SkipGaps(3*time.Second), Speed(2))
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 3 * time.Second, 4500 * time.Millisecond}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("sent at %v, want %v", at, want)
	}
	if wantSkip := time.Hour - 2*time.Second - 3*time.Second; st.Skipped != wantSkip {
		t.Errorf("skipped %v, want %v", st.Skipped, wantSkip)
	}
	if st.Achieved != 2 {
		t.Errorf("achieved %v, want 2 (gaps shortened are not counted)", st.Achieved)
	}
}

// TestSpeedMax never touches the timer and measures no lag.
func TestSpeedMax(t *testing.T) {
	clock := newFakeClock()
	at, st := sentAt(t, clock, []int64{t0, t0 + 1000, t0 + 5000}, Speed(Max))
	if clock.Sleeps() != 0 || at[2] != 0 {
		t.Errorf("%d sleeps, last sent at +%v", clock.Sleeps(), at[2])
	}
	if st.Paced != 0 || st.LagMax != 0 {
		t.Errorf("paced %d lag %v at max speed", st.Paced, st.LagMax)
	}
}

// TestLoop: passes repeat the selection; each starts right after the
// previous one, and the sampler hooks see each pass.
func TestLoop(t *testing.T) {
	clock := newFakeClock()
	var passes []int
	var adv []int64
	r := open(t, []string{segOf(t, t0, t0+10, t0+30)}, WithClock(clock), Loop(3),
		OnPass(func(p int) { passes = append(passes, p) }), OnAdvance(func(ms int64) { adv = append(adv, ms-t0) }))
	c := &collector{clock: clock}
	st := run(t, r, c)
	if st.Events != 9 || st.Passes != 3 || fmt.Sprint(passes) != "[2 3]" {
		t.Errorf("events %d passes %d hooks %v", st.Events, st.Passes, passes)
	}
	var at []int64
	for _, a := range c.at {
		at = append(at, a.Sub(c.at[0]).Milliseconds())
	}
	if fmt.Sprint(at) != "[0 10 30 30 40 60 60 70 90]" {
		t.Errorf("sent at %v ms", at)
	}
	if fmt.Sprint(adv) != "[0 10 30 31 0 10 30 31 0 10 30 31]" {
		t.Errorf("advance %v", adv)
	}
	if st.EventTime != 90*time.Millisecond {
		t.Errorf("event time %v, want 90ms over three passes", st.EventTime)
	}
}

// TestOnAdvanceIndependentOfSpeed: the event-time hook sees the same calls
// at any pace, before the first event at each new time.
func TestOnAdvanceIndependentOfSpeed(t *testing.T) {
	times := []int64{t0, t0, t0 + 5, t0 + 3, t0 + 9, t0 + 9, t0 + 20}
	var ref string
	for _, speed := range []float64{1, 7, Max} {
		var log []string
		clock := newFakeClock()
		r := open(t, []string{segOf(t, times...)}, WithClock(clock), Speed(speed),
			OnAdvance(func(ms int64) { log = append(log, fmt.Sprintf("adv %d", ms-t0)) }))
		c := &collector{each: func(_ int, ev event.Event) { log = append(log, fmt.Sprintf("ev %d", ev.Time-t0)) }}
		run(t, r, c)
		got := strings.Join(log, ",")
		if want := "adv 0,ev 0,ev 0,adv 5,ev 5,ev 3,adv 9,ev 9,ev 9,adv 20,ev 20,adv 21"; got != want {
			t.Errorf("speed %v:\n got %s\nwant %s", speed, got, want)
		}
		if ref != "" && got != ref {
			t.Errorf("speed %v differs from speed 1", speed)
		}
		ref = got
	}
}

// TestGapsForwarded: outages recorded in a segment reach a GapSink once
// event time has passed their end.
func TestGapsForwarded(t *testing.T) {
	dir := t.TempDir()
	p := writeSegWithGap(t, dir, tagged(t, 0, t0, t0+10, t0+500, t0+510), t0+20, t0+400)
	var log []string
	c := &gapLogger{log: &log}
	r := open(t, []string{p}, Speed(Max))
	if err := r.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "ev 0,ev 10,gap 20-400,ev 500,ev 510" {
		t.Errorf("got %s", got)
	}
	if r.Stats().Gaps != 1 {
		t.Errorf("stats gaps %d", r.Stats().Gaps)
	}
}

// TestCancel: cancelling the context mid-sleep returns promptly with the
// context's error and the stats so far.
func TestCancel(t *testing.T) {
	clock := newFakeClock()
	clock.hold = true // timers never fire
	r := open(t, []string{segOf(t, t0, t0, t0+int64(time.Hour/time.Millisecond))}, WithClock(clock))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := &collector{}
	go func() { done <- r.Run(ctx, c) }()
	<-clock.armed // waiting for the event an hour later
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if st := r.Stats(); st.Events != 2 || !st.Stopped {
		t.Errorf("stats %+v", st)
	}
}

// TestSinkStop: a sink returning event.ErrStop ends the replay cleanly; any
// other error ends it with that error.
func TestSinkStop(t *testing.T) {
	p := segOf(t, t0, t0+1, t0+2, t0+3)
	for _, tc := range []struct {
		err     error
		wantErr bool
	}{{event.ErrStop, false}, {errors.New("disk full"), true}} {
		r := open(t, []string{p}, Speed(Max))
		n := 0
		err := r.Run(context.Background(), event.SinkFunc(func(event.Event) error {
			n++
			if n == 2 {
				return tc.err
			}
			return nil
		}))
		if (err != nil) != tc.wantErr || n != 2 {
			t.Errorf("sink error %v: Run returned %v after %d events", tc.err, err, n)
		}
		if tc.wantErr && !errors.Is(err, tc.err) {
			t.Errorf("error %v does not wrap %v", err, tc.err)
		}
	}
}
