package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/replay"
)

// replayProgress is the replay's progress bar on stderr when stderr is a
// terminal: the bar covers the event-time span; around it the current
// event time, events sent, rate, speed (or PAUSED), lag and ETA.
type replayProgress struct {
	p    *mpb.Progress
	bar  *mpb.Bar
	stop chan struct{}
	done chan struct{}
}

// newReplayProgress starts the bar when term is a terminal, drawing on out
// (term itself, or a raw-mode wrapper of it).
func newReplayProgress(termW, out io.Writer, r *replay.Replay) *replayProgress {
	if !stderrIsTerminal(termW) {
		return &replayProgress{}
	}
	cw := &termConsole{out: out, fd: int(termW.(*os.File).Fd())}
	p := mpb.New(mpb.WithConsoleWriter(cw), mpb.WithWidth(100), mpb.WithRefreshRate(200*time.Millisecond))
	var mu sync.Mutex
	var line, head string
	bar := p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { mu.Lock(); defer mu.Unlock(); return head })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { mu.Lock(); defer mu.Unlock(); return line })),
	)
	rp := &replayProgress{p: p, bar: bar, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(rp.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		var rate rateMeter
		for {
			pr := r.Progress()
			rate.add(time.Now(), pr.Events)
			h, l := progressText(pr, rate.perSecond())
			mu.Lock()
			head, line = h, l
			mu.Unlock()
			if total := pr.Last - pr.First; total > 0 {
				bar.SetTotal(total, false)
				bar.SetCurrent(min(max(pr.Time-pr.First, 0), total))
			}
			select {
			case <-rp.stop:
				return
			case <-t.C:
			}
		}
	}()
	return rp
}

// termConsole is mpb's console writer for a terminal reached through a
// wrapper (the raw-mode crlfWriter): frames go to out, the size comes from
// the terminal's fd. Each flush moves the cursor back up over the lines of
// the previous frame, so the next one overwrites it.
type termConsole struct {
	bytes.Buffer
	out io.Writer
	fd  int
}

func (c *termConsole) IsTerminal() bool { return true }

func (c *termConsole) GetTermSize() (int, int, error) { return term.GetSize(c.fd) }

func (c *termConsole) Flush(lines int) error {
	if _, err := c.WriteTo(c.out); err != nil {
		return err
	}
	if lines > 0 {
		fmt.Fprintf(&c.Buffer, "\x1b[%dA\x1b[J", lines)
	}
	return nil
}

// Done removes the bar once the replay ended.
func (rp *replayProgress) Done() {
	if rp.p == nil {
		return
	}
	close(rp.stop)
	<-rp.done
	rp.bar.Abort(true)
	rp.p.Wait()
}

// progressText renders the text around the bar: the event time before it,
// counts, rate, speed, lag and ETA after it.
func progressText(p replay.Progress, rate float64) (head, tail string) {
	if p.Events == 0 {
		head = "starting"
	} else {
		head = event.FormatTime(p.Time)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ev  %s ev/s  ", formatCount(p.Events), formatCount(uint64(rate)))
	switch {
	case p.Paused:
		b.WriteString("PAUSED")
	default:
		b.WriteString(formatSpeed(p.Speed))
	}
	if p.Lag > 0 && !math.IsInf(p.Speed, 1) {
		fmt.Fprintf(&b, "  lag %s", fmtLag(p.Lag))
	}
	if eta, ok := progressETA(p, rate); ok {
		fmt.Fprintf(&b, "  ETA %s", eta)
	}
	if p.Pass > 1 {
		fmt.Fprintf(&b, "  pass %d", p.Pass)
	}
	return head, b.String()
}

// progressETA estimates the wall time left: from the event time left and
// the speed when paced, from the rate of progress through event time when
// unpaced.
func progressETA(p replay.Progress, rate float64) (time.Duration, bool) {
	left := p.Last - p.Time
	if p.Paused || p.Events == 0 || left < 0 {
		return 0, false
	}
	if !math.IsInf(p.Speed, 1) {
		return (time.Duration(float64(left)/p.Speed) * time.Millisecond).Round(time.Second), true
	}
	done := p.Time - p.First
	if done <= 0 || rate <= 0 {
		return 0, false
	}
	// events per event-ms so far, times event-ms left, at the current rate
	perMs := float64(p.Events) / float64(done)
	return (time.Duration(perMs * float64(left) / rate * float64(time.Second))).Round(time.Second), true
}

// rateMeter gives events per second over the last few seconds.
type rateMeter struct {
	t []time.Time
	n []uint64
}

func (m *rateMeter) add(t time.Time, n uint64) {
	m.t, m.n = append(m.t, t), append(m.n, n)
	if len(m.t) > 15 { // 3 s at 200 ms
		m.t, m.n = m.t[1:], m.n[1:]
	}
}

func (m *rateMeter) perSecond() float64 {
	if len(m.t) < 2 {
		return 0
	}
	d := m.t[len(m.t)-1].Sub(m.t[0]).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(m.n[len(m.n)-1]-m.n[0]) / d
}
