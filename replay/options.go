package replay

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/peertape/peertape/event"
)

// Max is the speed that sends every event as soon as the sinks take it.
var Max = math.Inf(1)

// Option configures Open. Options are applied in order; an invalid value
// makes Open fail with the option's error.
type Option func(*config) error

type config struct {
	from, to      event.TimeSpec
	only, exclude []string
	filter        *event.Filter
	nodes         map[string]bool
	speed         float64
	skipGaps      time.Duration
	passes        int // 0: forever
	clock         Clock
	control       *Control
	onAdvance     func(ms int64)
	onPass        func(pass int)
	onProblem     func(error)
	onIdle        func()
	log           *slog.Logger
}

func defaultConfig() config {
	return config{speed: 1, passes: 1, clock: RealClock(), log: slog.Default()}
}

// From starts the replay at the first event at or after t (inclusive).
// Offsets ("+2h") count from the earliest event of all the files.
func From(t event.TimeSpec) Option {
	return func(c *config) error { c.from = t; return nil }
}

// To ends the replay before the first event at or after t (exclusive).
// Offsets count from the earliest event of all the files.
func To(t event.TimeSpec) Option {
	return func(c *config) error { c.to = t; return nil }
}

// Only keeps the events matching any of the selectors ("netmsg",
// "netmsg:inv", "netconn:inbound"; comma-separated lists are split). Files
// and frames holding none of the selected kinds are skipped by the index.
func Only(selectors ...string) Option {
	return func(c *config) error { c.only = append(c.only, selectors...); return nil }
}

// Exclude drops the events matching any of the selectors.
func Exclude(selectors ...string) Option {
	return func(c *config) error { c.exclude = append(c.exclude, selectors...); return nil }
}

// Nodes keeps only files recorded from these nodes (the node name in the
// segment metadata, or the base name of a peer-observer archive). Other
// files are never decompressed.
func Nodes(names ...string) Option {
	return func(c *config) error {
		if c.nodes == nil {
			c.nodes = map[string]bool{}
		}
		for _, n := range names {
			if n != "" {
				c.nodes[n] = true
			}
		}
		return nil
	}
}

// Speed sets the pace: 1 keeps the recorded spacing (the default), 10 is
// ten times faster, 0.5 half as fast, Max as fast as the sinks go.
func Speed(x float64) Option {
	return func(c *config) error {
		if math.IsNaN(x) || x <= 0 {
			return fmt.Errorf("speed %v: want a positive factor or max", x)
		}
		c.speed = x
		return nil
	}
}

// SkipGaps shortens every stretch of event time without events longer
// than d to d. Zero (the default) keeps gaps as recorded.
func SkipGaps(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("skip-gaps: negative duration")
		}
		c.skipGaps = d
		return nil
	}
}

// Loop replays the selection passes times; passes <= 0 repeats until the
// context is cancelled. Each pass starts right after the previous one.
func Loop(passes int) Option {
	return func(c *config) error { c.passes = max(passes, 0); return nil }
}

// WithClock replaces the wall clock the pacer sleeps on (tests inject a
// fake one).
func WithClock(cl Clock) Option {
	return func(c *config) error {
		if cl == nil {
			return errors.New("nil clock")
		}
		c.clock = cl
		return nil
	}
}

// WithControl lets c pause, step and change the speed of a running replay.
// The control's speed, when set, overrides Speed.
func WithControl(ctl *Control) Option {
	return func(c *config) error { c.control = ctl; return nil }
}

// OnAdvance registers f to be told how far event time has progressed:
// f(t) is called before the first event whose time raises the running
// maximum to t, so when f(t) runs every event before t (by the running
// maximum) has been delivered. The calls depend only on the events, never
// on the pace, so samplers that cut event time into intervals give the
// same output at any speed. At the end of each pass f is called once more
// with the end of the selected range (To, or the last event time + 1).
func OnAdvance(f func(ms int64)) Option {
	return func(c *config) error { c.onAdvance = f; return nil }
}

// OnPass registers f to be called before each pass after the first when
// looping; event time starts over at the beginning of the selection.
func OnPass(f func(pass int)) Option {
	return func(c *config) error { c.onPass = f; return nil }
}

// OnIdle registers f to be called whenever the pacer is about to sleep
// because the next event is not due yet: buffered sinks (JSON lines on a
// pipe) flush there, so what was sent is visible at once without flushing
// per event at full speed.
func OnIdle(f func()) Option {
	return func(c *config) error { c.onIdle = f; return nil }
}

// OnProblem registers f to receive each problem found while reading: a
// *format.CorruptError for a damaged frame that was skipped, or an error
// naming a file that could not be read. The default logs it. Problems are
// never fatal; Stats counts them.
func OnProblem(f func(error)) Option {
	return func(c *config) error { c.onProblem = f; return nil }
}

// WithLogger sets the logger for problems and diagnostics.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.log = l
		}
		return nil
	}
}
