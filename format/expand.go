package format

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
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
