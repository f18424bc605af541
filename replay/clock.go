package replay

import "time"

// Clock is the wall clock the pacer reads and sleeps on. RealClock is the
// default; tests inject a fake one to check pacing without waiting.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer; the pacer arms it with Reset.
	NewTimer() Timer
}

// Timer is a reusable one-shot timer, like time.Timer.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Reset arms the timer to fire after d, discarding any earlier
	// arming and any undelivered tick.
	Reset(d time.Duration)
	// Stop disarms the timer.
	Stop()
}

// RealClock returns the system clock (monotonic readings, runtime timers).
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &realTimer{t: t}
}

type realTimer struct{ t *time.Timer }

func (r *realTimer) C() <-chan time.Time { return r.t.C }

// Reset relies on Go 1.23+ timers: Stop/Reset discard a pending tick, so
// no drain is needed.
func (r *realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r *realTimer) Stop()                 { r.t.Stop() }
