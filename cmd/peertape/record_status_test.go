package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peertape/peertape/record"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRecordStatusLine: the status line record prints every period on a
// terminal (a minute by default; shortened here) is one line with the
// event count, rate, segment and time since the last event.
func TestRecordStatusLine(t *testing.T) {
	if time.Duration(recordOpts.statusEvery) != time.Minute {
		t.Errorf("status period %v, want 1m", time.Duration(recordOpts.statusEvery))
	}
	rec, err := record.New(record.Options{Dir: t.TempDir(), Node: "n1", MinFree: -1, MaxSegmentAge: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { statusLine(ctx, &out, rec, 20*time.Millisecond); close(done) }()
	pollUntil(t, "two status lines", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	<-done
	line := strings.SplitN(out.String(), "\n", 2)[0]
	re := regexp.MustCompile(`^\d\d:\d\d:\d\d  0 events \(0/s\)  segment .* last event never$`)
	if !re.MatchString(line) {
		t.Fatalf("status line %q does not match %s", line, re)
	}
}
