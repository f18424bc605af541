package main

import (
	"io"
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress is a progress bar on stderr when stderr is a terminal, and a
// no-op otherwise (logs, pipes, CI).
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

// stderrIsTerminal reports whether stderr is an interactive terminal.
func stderrIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts a bar counting to total (bytes when isBytes).
func newProgress(w io.Writer, label string, total int64, isBytes bool) *progress {
	if !stderrIsTerminal(w) {
		return &progress{}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	counter := decor.CountersNoUnit("%d / %d")
	if isBytes {
		counter = decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")
	}
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), counter),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)),
	)
	return &progress{p: p, bar: bar}
}

// Set moves the bar to n.
func (p *progress) Set(n int64) {
	if p.bar != nil {
		p.bar.SetCurrent(n)
	}
}

// Add advances the bar by n.
func (p *progress) Add(n int64) {
	if p.bar != nil {
		p.bar.IncrInt64(n)
	}
}

// Done completes the bar and waits for it to render.
func (p *progress) Done() {
	if p.bar == nil {
		return
	}
	p.bar.SetTotal(-1, true)
	p.p.Wait()
}
