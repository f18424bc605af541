package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/proto/pb"
)

// TestExtractLogPublishes follows a Core-shaped debug.log from its start
// and checks one "log-extractor" event per line, in order, including the
// unparsable line.
func TestExtractLogPublishes(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "core", "log", "debug.log"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "debug.log")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	url, sub := subscribe(t)
	c := startPeertape(t, "extract", "log", "--log-file", path, "--from-start", "--nats", url)
	var connected, unknownCategoryCmpct int
	for i := range lines {
		subject, e := nextEvent(t, sub, 30*time.Second)
		l := e.GetLogExtractor()
		if subject != "log-extractor" || l == nil {
			t.Fatalf("line %d: subject %s", i+1, subject)
		}
		if l.GetBlockConnectedLog() != nil {
			connected++
		}
		if l.GetCategory() == pb.LogDebugCategory_CMPCTBLOCK {
			unknownCategoryCmpct++
		}
		if i == 19 && l.GetUnknownLogMessage().GetRawMessage() != lines[19] {
			t.Errorf("the continuation line was not kept whole: %v", l)
		}
	}
	if connected != 2 || unknownCategoryCmpct != 4 {
		t.Errorf("%d BlockConnected and %d CMPCTBLOCK events", connected, unknownCategoryCmpct)
	}
	// A line appended later is followed.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("2025-05-02T10:01:00Z [validation] BlockConnected: block hash=" + strings.Repeat("ab", 32) + " block height=894261\n")
	f.Close()
	_, e := nextEvent(t, sub, 30*time.Second)
	if e.GetLogExtractor().GetBlockConnectedLog().GetBlockHeight() != 894261 {
		t.Fatalf("appended line: %v", e)
	}
	code, out := c.interrupt(t)
	if code != 0 || !strings.Contains(out, "published 22 events") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}
