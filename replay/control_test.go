package replay

import (
	"context"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/peertape/peertape/event"
)

func TestReadKeys(t *testing.T) {
	for _, tc := range []struct {
		keys  string
		start float64
		want  ControlState
	}{
		{"", 1, ControlState{Speed: 1}},
		{" ", 1, ControlState{Paused: true, Speed: 1}},
		{"  ", 1, ControlState{Speed: 1}},
		{"+", 1, ControlState{Speed: 2}},
		{"++=", 1, ControlState{Speed: 8}},
		{"+-", 3, ControlState{Speed: 3}},
		{"-_", 1, ControlState{Speed: 0.25}},
		{" nn", 1, ControlState{Paused: true, Speed: 1, Steps: 2}},
		{"nN", 1, ControlState{Speed: 1}},  // stepping only counts while paused
		{" n ", 1, ControlState{Speed: 1}}, // resuming drops untaken steps
		{"\x1b[A", 1, ControlState{Speed: 2}},
		{"\x1b[B\x1bOB", 1, ControlState{Speed: 0.25}},
		{" \x1b[C", 1, ControlState{Paused: true, Speed: 1, Steps: 1}},
		{"\x1b[D", 1, ControlState{Speed: 1}},
		{"\x1bx+", 1, ControlState{Speed: 2}}, // ESC + plain key: both dropped
		{"q", 1, ControlState{Speed: 1, Quit: true}},
		{"abc\r\n\x00", 1, ControlState{Speed: 1}},
		{strings.Repeat("-", 30), 1, ControlState{Speed: MinSpeed}},
		{strings.Repeat("+", 30), 1, ControlState{Speed: MaxSpeed}},
		{"-", Max, ControlState{Speed: Max}},
		{"+", Max, ControlState{Speed: Max}},
	} {
		for _, split := range []bool{false, true} {
			c := NewControl()
			c.SetSpeed(tc.start)
			var r = strings.NewReader(tc.keys)
			var err error
			if split {
				err = ReadKeys(iotest.OneByteReader(r), c) // escape sequences across reads
			} else {
				err = ReadKeys(r, c)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.State(); got != tc.want {
				t.Errorf("keys %q from speed %v (split %v): got %+v, want %+v", tc.keys, tc.start, split, got, tc.want)
			}
		}
	}
}

func TestReadKeysError(t *testing.T) {
	c := NewControl()
	err := ReadKeys(iotest.TimeoutReader(strings.NewReader(" ")), c)
	if err == nil {
		// TimeoutReader fails its second read.
		t.Fatal("read error not returned")
	}
	if !c.State().Paused {
		t.Error("the key read before the error was not applied")
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestControlPauseStepResume drives a replay with keystrokes: pause at the
// third event, step one event an hour later, resume, then double the speed.
// The pause never turns into a burst: after resuming, events keep their
// spacing from the last one sent.
func TestControlPauseStepResume(t *testing.T) {
	clock := newFakeClock()
	ctl := NewControl()
	var times []int64
	for i := 0; i < 10; i++ {
		times = append(times, t0+int64(i)*10)
	}
	r := open(t, []string{segOf(t, times...)}, WithClock(clock), WithControl(ctl))
	keys := func(s string) {
		if err := ReadKeys(strings.NewReader(s), ctl); err != nil {
			t.Error(err)
		}
	}
	c := &collector{clock: clock}
	c.each = func(i int, _ event.Event) {
		switch i {
		case 2:
			keys(" ") // pause after the third event
		case 5:
			keys("+") // twice as fast from here
		}
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), c) }()

	waitFor(t, "the pause", ctl.Waiting)
	if n := c.count(); n != 3 {
		t.Fatalf("%d events sent before pausing, want 3", n)
	}
	clock.Advance(time.Hour)
	keys("n")
	waitFor(t, "the step", func() bool { return c.count() == 4 && ctl.Waiting() })
	if p := r.Progress(); !p.Paused || p.Events != 4 {
		t.Errorf("progress while paused: %+v", p)
	}
	keys(" ")
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var at []int64
	for _, a := range c.at {
		at = append(at, a.Sub(c.at[0]).Milliseconds())
	}
	h := time.Hour.Milliseconds()
	// 0-2 on schedule; 3 stepped an hour later; 4-5 keep 10 ms spacing
	// after the resume; from 6 on, 5 ms at double speed.
	want := []int64{0, 10, 20, 20 + h, 30 + h, 40 + h, 45 + h, 50 + h, 55 + h, 60 + h}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("sent at %v ms, want %v", at, want)
		}
	}
	st := r.Stats()
	if st.Paused != time.Hour || st.Speed != 2 {
		t.Errorf("paused %v speed %v", st.Paused, st.Speed)
	}
	if st.Paced != 9 {
		t.Errorf("paced %d, want 9 (the stepped event has no schedule)", st.Paced)
	}
}

// TestControlQuit: q ends the replay without error and marks it stopped.
func TestControlQuit(t *testing.T) {
	ctl := NewControl()
	r := open(t, []string{segOf(t, t0, t0+1, t0+2, t0+3, t0+4, t0+5)}, Speed(Max), WithControl(ctl))
	c := &collector{each: func(i int, _ event.Event) {
		if i == 3 {
			ctl.HandleKey('q')
		}
	}}
	st := run(t, r, c)
	if st.Events != 4 || !st.Stopped {
		t.Errorf("events %d stopped %v, want 4 and stopped", st.Events, st.Stopped)
	}
}

// TestControlSpeedOverride: a control's speed wins over Speed, and a
// control without one takes the option's.
func TestControlSpeedOverride(t *testing.T) {
	p := segOf(t, t0)
	ctl := NewControl()
	ctl.SetSpeed(5)
	open(t, []string{p}, Speed(2), WithControl(ctl))
	if ctl.Speed() != 5 {
		t.Errorf("control speed %v", ctl.Speed())
	}
	ctl = NewControl()
	r := open(t, []string{p}, Speed(Max), WithControl(ctl))
	if !math.IsInf(ctl.Speed(), 1) || !math.IsInf(r.Progress().Speed, 1) {
		t.Errorf("control speed %v, progress %v", ctl.Speed(), r.Progress().Speed)
	}
}

// FuzzReadKeys: any byte stream leaves the control in a valid state.
func FuzzReadKeys(f *testing.F) {
	for _, s := range []string{" ", "+-n q", "\x1b[A\x1b[B\x1b[C", "\x1b", "\x1b[", strings.Repeat("+", 40)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewControl()
		c.SetSpeed(1)
		if err := ReadKeys(strings.NewReader(string(b)), c); err != nil {
			t.Fatal(err)
		}
		s := c.State()
		if s.Speed < MinSpeed || s.Speed > MaxSpeed || s.Steps < 0 || (!s.Paused && s.Steps != 0) {
			t.Fatalf("state %+v after %q", s, b)
		}
	})
}
