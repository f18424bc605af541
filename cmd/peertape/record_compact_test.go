package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompactInChildPriority: --compact runs `peertape compact` under
// ionice -c 3 (idle I/O) and nice -n 19, with GOMAXPROCS=1. Fake ionice
// and nice on PATH record how they were called instead of running it.
func TestCompactInChildPriority(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	for _, name := range []string{"ionice", "nice"} {
		script := "#!/bin/sh\necho \"$0 $* GOMAXPROCS=$GOMAXPROCS\" >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	compact := compactInChild(12)
	if err := compact(context.Background(), "/srv/tape/n1-20260101T000000Z-000001.seg.zst"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	want := filepath.Join(bin, "ionice") + " -c 3 " + filepath.Join(bin, "nice") + " -n 19 " + exe +
		" compact --level 12 /srv/tape/n1-20260101T000000Z-000001.seg.zst GOMAXPROCS=1"
	if got := strings.TrimSpace(string(b)); got != want {
		t.Fatalf("ran\n  %s\nwant\n  %s", got, want)
	}
}
