package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
	"github.com/peertape/peertape/internal/testevents"
)

// TestReplayCLIKeysOnTerminal drives `peertape replay` on a real terminal
// (a pty from util-linux script, sized like a window): + doubles the
// speed, space pauses, n steps exactly one event while paused, q quits
// with the summary and exit 0, and the terminal shows the progress bar.
func TestReplayCLIKeysOnTerminal(t *testing.T) {
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) not installed")
	}
	srv := testenv.NATS(t)
	c := collectNATS(t, srv.ClientURL())
	// Ten minutes of events 10 ms apart at speed 1: the replay is far from
	// done when the keys arrive.
	evs := testevents.Mixed(60_000, 5, replayT0)
	for i := range evs {
		evs[i] = retime(t, evs[i], replayT0+int64(i)*10)
	}
	p := writeSegment(t, t.TempDir(), "keys.seg.zst", evs, format.WriterOptions{})
	cmd := exec.Command(scriptPath, "-qfec", "stty cols 120 rows 40; exec "+binary+" replay --nats "+srv.ClientURL()+" --summary-json "+p, "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pollUntil(t, "keys enabled", func() bool { return strings.Contains(out.String(), "keys: ") })
	pollUntil(t, "events on NATS", func() bool { return c.count() >= 20 })

	stdin.Write([]byte("+")) // twice as fast: the summary says so
	stdin.Write([]byte(" "))
	// Paused: the count stops moving (the sink is flushed while paused).
	var paused int
	pollUntil(t, "the count to stop", func() bool {
		a := c.count()
		time.Sleep(300 * time.Millisecond) // observing that nothing more arrives is the point
		paused = c.count()
		return a == paused
	})
	for step := 1; step <= 3; step++ {
		stdin.Write([]byte("n"))
		pollUntil(t, "one step", func() bool { return c.count() >= paused+step })
		if got := c.count(); got != paused+step {
			t.Fatalf("after %d steps: %d events, want %d", step, got, paused+step)
		}
	}
	stdin.Write([]byte("q"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("replay after q: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("replay did not quit on q:\n%s", out.String())
	}
	// The bar moves the cursor with ANSI sequences; drop them to read.
	text := regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]").ReplaceAllString(strings.ReplaceAll(out.String(), "\r\n", "\n"), "")
	s := summaryOf(t, text)
	if !s.Stopped || s.Events != uint64(paused+3) || s.Speed != "2x" {
		t.Fatalf("summary %+v, want %d events, stopped, speed 2x", s, paused+3)
	}
	sameAsPublished(t, c.snapshot(), evs[:s.Events])
	if !strings.Contains(text, "PAUSED") {
		t.Errorf("the progress bar never showed PAUSED:\n%q", text)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
