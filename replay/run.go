package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// Stats summarises a replay. Durations are wall time unless named
// otherwise.
type Stats struct {
	Events uint64 // events handed to the sink
	Bytes  uint64 // their raw size
	Passes int    // passes started (Loop)
	// Files is the number of selected files; FilesOpened counts openings
	// over all passes; MaxOpen is the most files open at once.
	Files, FilesOpened, MaxOpen int
	// First and Last are the event times (ms) of the first event and the
	// running maximum at the end of the last pass.
	First, Last int64
	// EventTime is the event time covered by all passes, gaps included;
	// Skipped is the part of it SkipGaps jumped over.
	EventTime, Skipped time.Duration
	Wall               time.Duration // from the first event to the end
	// SendSpan is the wall time from the first event sent to the last:
	// compare it with (EventTime − Skipped)/Speed to see how well the pace
	// was kept (Wall also holds reading past the last selected event).
	SendSpan time.Duration
	Paused   time.Duration // spent paused (Control)
	Speed    float64       // requested speed at the end (Max if unpaced)
	// Achieved is (EventTime − Skipped) / (Wall − Paused): close to Speed
	// when the replay kept up, lower when the sinks held it back.
	Achieved float64
	// Lag quantiles of (actual − scheduled) send time over the paced
	// events (none at speed Max, nor stepped events).
	LagP50, LagP99, LagMax time.Duration
	Paced                  uint64 // events with a lag measurement
	Backward               uint64 // records earlier than the running maximum
	Problems               int    // damaged frames or files skipped, since Open
	Gaps                   int    // recorded outages forwarded to the sink
	Stopped                bool   // ended early: cancelled or quit
}

// EventsPerSecond returns the achieved event rate over wall time.
func (s Stats) EventsPerSecond() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Events) / s.Wall.Seconds()
}

// Progress is a snapshot of a running replay.
type Progress struct {
	Events uint64  // delivered so far
	Time   int64   // running maximum of event time delivered (ms)
	First  int64   // start of the span (ms)
	Last   int64   // best known end of the span (ms)
	Pass   int     // current pass, from 1
	Speed  float64 // current speed (Max if unpaced)
	Paused bool
	Lag    time.Duration // lag of the latest paced event
}

// Progress returns where the replay is; safe to call from any goroutine
// while Run runs.
func (r *Replay) Progress() Progress {
	return Progress{
		Events: r.prog.events.Load(),
		Time:   r.prog.time.Load(),
		First:  r.prog.first.Load(),
		Last:   r.prog.last.Load(),
		Pass:   int(r.prog.pass.Load()),
		Speed:  math.Float64frombits(r.prog.speed.Load()),
		Paused: r.prog.paused.Load(),
		Lag:    time.Duration(r.prog.lag.Load()),
	}
}

// Stats returns the statistics of the last Run (complete once Run
// returned).
func (r *Replay) Stats() Stats { return r.st }

var errQuit = errors.New("quit")

// Run sends the selected events to sink, paced, and returns when they are
// all delivered (nil), the context is cancelled (its error), the Control
// quits (nil), or the sink fails (its error; event.ErrStop ends the replay
// without error). Sink gets events it owns (Raw is a copy). Sinks that
// implement event.GapSink also receive the outages recorded in the files,
// each once event time has passed its end. Damaged data is reported and
// skipped (OnProblem) and never ends the replay.
func (r *Replay) Run(ctx context.Context, sink event.Sink) error {
	cfg := &r.cfg
	p := &pacer{clock: cfg.clock, ctl: cfg.control, speed: cfg.speed, skip: cfg.skipGaps.Milliseconds(), prog: &r.prog, idle: cfg.onIdle}
	p.timer = p.clock.NewTimer()
	defer p.timer.Stop()
	r.st = Stats{Files: len(r.inputs), Speed: cfg.speed}
	st := &r.st
	first, last := r.Span()
	r.prog.first.Store(first)
	r.prog.last.Store(last)
	opened0 := r.opened
	c := &consumer{r: r, p: p, sink: sink, last: last}
	c.gapSink, _ = sink.(event.GapSink)

	var err error
	for pass := 1; cfg.passes == 0 || pass <= cfg.passes; pass++ {
		if pass > 1 {
			r.reset()
			if cfg.onPass != nil {
				cfg.onPass(pass)
			}
			p.newPass()
		}
		st.Passes = pass
		r.prog.pass.Store(int64(pass))
		var n int
		n, err = c.pass(ctx)
		if err != nil || n == 0 {
			break // stopped, or nothing to loop over
		}
	}

	p.finish(st)
	st.FilesOpened = r.opened - opened0
	st.MaxOpen = r.maxOpen
	st.Problems = r.problems
	if errors.Is(err, errQuit) {
		st.Stopped = true
		return nil
	}
	if err != nil && ctx.Err() != nil {
		st.Stopped = true
		return ctx.Err()
	}
	return err
}

// The merge runs ahead of the pacer in its own goroutine and hands over
// batches of owned events, so that decoding hiccups (opening a file, the
// first blocks of a frame, a slow disk) are absorbed by up to
// aheadBatches×batchEvents events instead of delaying paced sends, and so
// that reading and the sinks can use two cores.
const (
	batchEvents  = 256
	batchBytes   = 1 << 20
	aheadBatches = 8
)

// item is one entry of a batch: an event, a recorded outage or a problem
// found while reading, in stream order.
type item struct {
	ev  event.Event
	gap *pb.Gap
	err error
}

// produce runs the merge into out until the end of the pass or stop. It
// closes primed once out is full or the pass is read, so the pacer starts
// its clock with the read-ahead in place.
func (r *Replay) produce(stop <-chan struct{}, out chan<- []item, free chan []item, primed chan<- struct{}) {
	sent := 0
	defer func() {
		if sent < cap(out) {
			close(primed)
		}
		close(out)
	}()
	var b []item
	size := 0
	get := func() {
		select {
		case b = <-free:
		default:
			b = make([]item, 0, batchEvents+8)
		}
		size = 0
	}
	send := func() bool {
		select {
		case out <- b:
			if sent++; sent == cap(out) {
				close(primed)
			}
			get()
			return true
		case <-stop:
			return false
		}
	}
	take := func() {
		for _, err := range r.deferred {
			b = append(b, item{err: err})
		}
		clear(r.deferred)
		r.deferred = r.deferred[:0]
		for _, g := range r.gaps {
			b = append(b, item{gap: g})
		}
		clear(r.gaps)
		r.gaps = r.gaps[:0]
	}
	get()
	for r.Next() {
		take()
		ev := r.ev
		ev.Raw = bytes.Clone(ev.Raw)
		b = append(b, item{ev: ev})
		size += len(ev.Raw)
		if len(b) >= batchEvents || size >= batchBytes {
			if !send() {
				return
			}
		}
	}
	take()
	if len(b) > 0 {
		send()
	}
}

// consumer is Run's side of a pass: pacing and delivery.
type consumer struct {
	r       *Replay
	p       *pacer
	sink    event.Sink
	gapSink event.GapSink
	gaps    []*pb.Gap // recorded outages waiting for event time to pass their end
	last    int64
}

// pass replays one pass and returns how many events it delivered.
func (c *consumer) pass(ctx context.Context) (int, error) {
	r, p, cfg := c.r, c.p, &c.r.cfg
	stop := make(chan struct{})
	out := make(chan []item, aheadBatches)
	free := make(chan []item, aheadBatches+2)
	done := make(chan struct{})
	primed := make(chan struct{})
	r.deferProblems = true
	go func() {
		defer close(done)
		r.produce(stop, out, free, primed)
	}()
	defer func() {
		close(stop)
		<-done
		r.deferProblems = false
	}()
	select {
	case <-primed:
	case <-ctx.Done():
		return 0, ctx.Err()
	}

	n := 0
	lastAdv := int64(math.MinInt64)
	for batch := range out {
		for i := range batch {
			it := &batch[i]
			switch {
			case it.err != nil:
				r.report(it.err)
				continue
			case it.gap != nil:
				c.gaps = append(c.gaps, it.gap)
				continue
			}
			ev := it.ev
			if err := p.wait(ctx, ev.Time); err != nil {
				return n, err
			}
			if len(c.gaps) > 0 {
				c.deliverGaps(p.maxT, false)
			}
			if cfg.onAdvance != nil && ev.Time > lastAdv {
				cfg.onAdvance(ev.Time)
				lastAdv = ev.Time
			}
			if err := c.sink.Consume(ev); err != nil {
				if errors.Is(err, event.ErrStop) {
					return n, errQuit
				}
				return n, fmt.Errorf("sink: %w", err)
			}
			n++
			r.st.Events++
			r.st.Bytes += uint64(len(ev.Raw))
			r.prog.events.Add(1)
			if ev.Time >= p.maxT {
				r.prog.time.Store(p.maxT)
				if p.maxT > c.last {
					c.last = p.maxT
					r.prog.last.Store(c.last)
				}
			}
		}
		clear(batch) // the sinks own the events; drop our references
		select {
		case free <- batch[:0]:
		default:
		}
	}
	c.deliverGaps(0, true)
	if cfg.onAdvance != nil && n > 0 {
		cfg.onAdvance(p.maxT + 1)
	}
	p.endPass()
	return n, nil
}

// deliverGaps forwards the gaps that ended by event time upTo (all of them
// when final) to the sink.
func (c *consumer) deliverGaps(upTo int64, final bool) {
	kept := c.gaps[:0]
	for _, g := range c.gaps {
		if final || g.GetEndMs() <= upTo {
			if c.gapSink != nil {
				c.gapSink.Gap(g)
				c.r.st.Gaps++
			}
			continue
		}
		kept = append(kept, g)
	}
	clear(c.gaps[len(kept):])
	c.gaps = kept
}

// pacer decides when each event is due and waits for it.
//
// Event time is mapped onto a virtual timeline v (ms since the first
// event): v advances with the running maximum of event time, by at most
// skip per step when SkipGaps is set. The event at v is due at
//
//	anchorWall + (v − anchorV) / speed
//
// The anchor is set at the first event and moved only when the user
// pauses, resumes or changes the speed, never per event, so the schedule
// cannot drift.
type pacer struct {
	clock Clock
	ctl   *Control
	speed float64
	skip  int64 // ms; 0 = keep gaps
	prog  *progress
	timer Timer
	idle  func()

	ctlVer     uint64
	started    bool
	first      int64 // event time of the first event of the pass
	maxT       int64 // running maximum of event time
	v          int64 // virtual time of the current event
	vSent      int64 // virtual time of the last event sent
	anchorV    int64
	anchorWall time.Time
	wallStart  time.Time
	lastSend   time.Time
	paused     bool
	pauseStart time.Time

	// accumulated over passes
	span, skipped time.Duration
	pausedFor     time.Duration
	backward      uint64
	lag           lagHist
	unpacedSends  bool // some events went out unpaced: lastSend is unknown
	firstEver     int64
	haveFirst     bool
}

func (p *pacer) newPass() {
	p.endPass()
	p.started = false
}

// endPass books the event time of the pass just finished.
func (p *pacer) endPass() {
	if p.started {
		p.span += time.Duration(p.maxT-p.first) * time.Millisecond
		p.started = false
	}
}

func (p *pacer) finish(st *Stats) {
	p.endPass()
	now := p.clock.Now()
	if p.paused {
		p.pausedFor += now.Sub(p.pauseStart)
	}
	if p.haveFirst {
		st.Wall = now.Sub(p.wallStart)
		st.SendSpan = p.lastSend.Sub(p.wallStart)
		if p.unpacedSends || st.SendSpan < 0 {
			st.SendSpan = st.Wall
		}
		st.First = p.firstEver
		st.Last = p.maxT
	}
	st.EventTime, st.Skipped, st.Paused = p.span, p.skipped, p.pausedFor
	st.Speed = p.speed
	if active := st.Wall - st.Paused; active > 0 {
		st.Achieved = float64(st.EventTime-st.Skipped) / float64(active)
	}
	st.Backward = p.backward
	st.Paced = p.lag.n
	st.LagP50, st.LagP99, st.LagMax = p.lag.quantile(0.50), p.lag.quantile(0.99), p.lag.max
}

func (p *pacer) unpaced() bool { return math.IsInf(p.speed, 1) }

// wait returns when the event at time t is due: at once when unpaced or
// behind, after sleeping otherwise. It returns the context's error when
// cancelled and errQuit when the control quits.
func (p *pacer) wait(ctx context.Context, t int64) error {
	if !p.started {
		p.started = true
		p.first, p.maxT, p.v, p.vSent, p.anchorV = t, t, 0, 0, 0
		now := p.clock.Now()
		p.anchorWall = now
		if !p.haveFirst {
			p.haveFirst, p.firstEver, p.wallStart, p.lastSend = true, t, now, now
		}
	} else if t > p.maxT {
		d := t - p.maxT
		if p.skip > 0 && d > p.skip {
			p.skipped += time.Duration(d-p.skip) * time.Millisecond
			d = p.skip
		}
		p.v += d
		p.maxT = t
	} else if t < p.maxT {
		p.backward++
	}
	done := ctx.Done()
	var changed <-chan struct{}
	if p.ctl != nil {
		changed = p.ctl.changed
	}
	for {
		if p.ctl != nil && p.ctl.version.Load() != p.ctlVer {
			if err := p.applyControl(); err != nil {
				return err
			}
		}
		if p.paused {
			if p.ctl.takeStep() {
				p.vSent = p.v
				p.lastSend = p.clock.Now()
				return nil
			}
			if p.idle != nil {
				p.idle()
			}
			p.ctl.waiting.Store(true)
			select {
			case <-changed:
			case <-done:
			}
			p.ctl.waiting.Store(false)
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if p.unpaced() {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			p.vSent = p.v
			p.unpacedSends = true
			return nil
		}
		due := p.anchorWall.Add(p.offset(p.v - p.anchorV))
		now := p.clock.Now()
		if wait := due.Sub(now); wait > 0 {
			if p.idle != nil {
				p.idle()
			}
			p.timer.Reset(wait)
			select {
			case <-p.timer.C():
			case <-changed:
				p.timer.Stop()
			case <-done:
				p.timer.Stop()
				return ctx.Err()
			}
			continue
		}
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		lag := now.Sub(due)
		p.lag.add(lag)
		p.prog.lag.Store(int64(lag))
		p.vSent = p.v
		p.lastSend = now
		return nil
	}
}

// offset converts virtual milliseconds to wall time at the current speed.
func (p *pacer) offset(ms int64) time.Duration {
	return time.Duration(float64(ms) * float64(time.Millisecond) / p.speed)
}

// applyControl takes the control's state, re-anchoring the schedule where
// the pace changes.
func (p *pacer) applyControl() error {
	p.ctlVer = p.ctl.version.Load()
	s := p.ctl.State()
	now := p.clock.Now()
	if s.Quit {
		return errQuit
	}
	if s.Speed > 0 && s.Speed != p.speed {
		// Continue from where the old pace had got to, between the last
		// event sent and the one waiting, so a change neither jumps ahead
		// nor replays a backlog.
		pos := p.vSent
		if !p.unpaced() && !p.paused {
			pos = p.anchorV + int64(float64(now.Sub(p.anchorWall))*p.speed/float64(time.Millisecond))
			pos = min(max(pos, p.vSent), p.v)
		}
		p.anchorV, p.anchorWall = pos, now
		p.speed = s.Speed
		p.prog.speed.Store(floatBits(s.Speed))
	}
	switch {
	case s.Paused && !p.paused:
		p.paused, p.pauseStart = true, now
		p.prog.paused.Store(true)
	case !s.Paused && p.paused:
		p.paused = false
		p.pausedFor += now.Sub(p.pauseStart)
		p.prog.paused.Store(false)
		// The next event keeps its spacing from the last one sent.
		p.anchorV, p.anchorWall = p.vSent, now
	}
	return nil
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
