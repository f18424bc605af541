package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/proto/pb"
)

// The CLI is tested as users run it: a built binary, real exit codes,
// stdout and stderr apart.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "peertape-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "peertape")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build peertape: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// peertape runs the binary and returns stdout, stderr and the exit code.
func peertape(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run peertape %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// writeSegment writes evs to dir/name as a complete segment.
func writeSegment(t testing.TB, dir, name string, evs []event.Event, o format.WriterOptions) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if o.Meta == nil {
		o.Meta = &pb.SegmentMeta{Node: "n1", CreatedMs: 1_700_000_000_000}
	}
	o.FlushInterval = -1
	w, err := format.Create(p, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
