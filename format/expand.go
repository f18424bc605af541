package format

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/peertape/peertape/event"
)

// archiveSuffixes are the file names Expand picks up in directories.
var archiveSuffixes = []string{".seg.zst", ".seg.zst" + PartialSuffix, ".bin", ".bin.zst"}

// IsArchiveName reports whether name looks like a segment or a
// peer-observer archive.
func IsArchiveName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false // temporary files of recover, compact, ...
	}
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Expand turns files and directories into a list of files: a directory
// contributes its segments and peer-observer archives (not recursively),
// in name order — which is time order for peertape's and peer-observer's
// naming. Files are kept as given, whatever their name. Duplicates are
// dropped. A path that does not exist is an error.
func Expand(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range ents {
			if e.Type().IsRegular() && IsArchiveName(e.Name()) {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no segments or peer-observer archives in directory", p)
		}
		for _, n := range names {
			add(filepath.Join(p, n))
		}
	}
	return out, nil
}

var nodeNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// SegmentName returns the file name of a segment: NODE-YYYYMMDDTHHMMSSZ-SEQ.seg.zst.
// Names of one node sort by time. Characters unsafe in file names are
// replaced in node.
func SegmentName(node string, t time.Time, seq uint64) string {
	n := nodeNameUnsafe.ReplaceAllString(node, "_")
	if n == "" {
		n = "node"
	}
	return fmt.Sprintf("%s-%s-%06d.seg.zst", n, t.UTC().Format("20060102T150405Z"), seq)
}

// StartTime returns the earliest event time of the files: from indexes
// where present, otherwise from the first record. It is the reference for
// offsets like "+10m" on the command line. ok is false when no file holds
// an event.
func StartTime(paths []string) (start int64, ok bool, err error) {
	for _, p := range paths {
		r, err := Open(p)
		if err != nil {
			return 0, false, err
		}
		var t int64
		found := false
		if idx := r.index; idx != nil { // totals only: no need for the per-frame maps
			t, found = idx.MinTimeMs, idx.Events > 0
		} else if r.Next() {
			t, found = r.RawEvent().Time, true
		}
		r.Close()
		if found && (!ok || t < start) {
			start, ok = t, true
		}
	}
	return start, ok, nil
}

// ResolveRange turns command-line time specs into the From/To of
// ReadOptions. Offsets ("+10m") count from StartTime(paths); an unset spec
// gives 0 (unbounded).
func ResolveRange(paths []string, from, to event.TimeSpec) (int64, int64, error) {
	var start int64
	if from.Relative() || to.Relative() {
		s, ok, err := StartTime(paths)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return 0, 0, fmt.Errorf("no events to measure offsets from")
		}
		start = s
	}
	var f, t int64
	if from.IsSet() {
		f = from.Resolve(start)
	}
	if to.IsSet() {
		t = to.Resolve(start)
	}
	if f != 0 && t != 0 && t <= f {
		return 0, 0, fmt.Errorf("--to %s is not after --from %s", to, from)
	}
	return f, t, nil
}
