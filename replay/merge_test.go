package replay

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"

	"github.com/peertape/peertape/event"
)

// TestMergeTwoNodes: two nodes' archives with interleaved times come out
// globally ordered, equal times keep file order, and every event keeps its
// node.
func TestMergeTwoNodes(t *testing.T) {
	dir := t.TempDir()
	a := writeSeg(t, dir, "a.seg.zst", "alpha", tagged(t, 100, t0, t0+2, t0+4, t0+4, t0+6, t0+9), 0)
	b := writeSeg(t, dir, "b.seg.zst", "beta", tagged(t, 200, t0+1, t0+2, t0+3, t0+4, t0+9, t0+10), 0)
	for _, tc := range []struct {
		name  string
		paths []string
		want  []int
	}{
		// alpha first: at equal times alpha's events come first.
		{"alpha,beta", []string{a, b}, []int{100, 200, 101, 201, 202, 102, 103, 203, 104, 105, 204, 205}},
		// beta first: the same times, beta wins ties.
		{"beta,alpha", []string{b, a}, []int{100, 200, 201, 101, 202, 203, 102, 103, 104, 204, 105, 205}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := readAll(t, open(t, tc.paths))
			var got []int
			for i, ev := range evs {
				got = append(got, tagOf(t, ev))
				if i > 0 && ev.Time < evs[i-1].Time {
					t.Errorf("event %d at %d before %d", i, ev.Time, evs[i-1].Time)
				}
				wantNode := map[bool]string{true: "alpha", false: "beta"}[got[i] < 200]
				if ev.Node != wantNode {
					t.Errorf("event %d (tag %d): node %q, want %q", i, got[i], ev.Node, wantNode)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("order\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestMergeMatchesStableSort: for files whose records are in time order,
// the lazy merge equals a stable sort of every event by (time, file order),
// whatever mix of formats, nodes and file counts.
func TestMergeMatchesStableSort(t *testing.T) {
	type file struct {
		kind string // seg, partial, bin, binzst
		node string
		n    int
	}
	cases := []struct {
		name  string
		files []file
	}{
		{"one segment", []file{{"seg", "n1", 500}}},
		{"two nodes", []file{{"seg", "n1", 300}, {"seg", "n2", 300}}},
		{"mixed formats", []file{{"seg", "n1", 200}, {"partial", "n1", 100}, {"binzst", "up", 150}, {"bin", "raw", 80}}},
		{"three nodes, sequential files", []file{
			{"seg", "a", 50}, {"seg", "a", 50}, {"seg", "a", 50}, {"partial", "a", 30},
			{"seg", "b", 60}, {"seg", "b", 60},
			{"binzst", "c", 40}, {"binzst", "c", 40},
		}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			dir := t.TempDir()
			var paths []string
			type rec struct {
				ev  event.Event
				ord int
			}
			var all []rec
			next := map[string]int64{}
			for i, f := range tc.files {
				ts := max(next[f.node], t0)
				times := make([]int64, f.n)
				for j := range times {
					ts += int64(rng.IntN(4)) // many equal times across files
					times[j] = ts
				}
				next[f.node] = ts
				evs := tagged(t, i*10_000, times...)
				name := fmt.Sprintf("%s-%03d", f.node, i)
				var p string
				switch f.kind {
				case "seg":
					p = writeSeg(t, dir, name+".seg.zst", f.node, evs, 2048)
				case "partial":
					p = writePartial(t, dir, name+".seg.zst", f.node, evs)
				case "bin":
					p = writeUpstream(t, dir, f.node+".20260407-090713-"+fmt.Sprintf("%03d", i)+".bin", evs)
				case "binzst":
					p = writeUpstream(t, dir, f.node+".20260407-090713-"+fmt.Sprintf("%03d", i)+".bin.zst", evs)
				}
				paths = append(paths, p)
				for _, ev := range evs {
					ev.Node = f.node
					all = append(all, rec{ev, i})
				}
			}
			sort.SliceStable(all, func(i, j int) bool {
				return all[i].ev.Time < all[j].ev.Time || (all[i].ev.Time == all[j].ev.Time && all[i].ord < all[j].ord)
			})
			r := open(t, paths)
			got := readAll(t, r)
			if len(got) != len(all) {
				t.Fatalf("got %d events, want %d", len(got), len(all))
			}
			for i := range got {
				if !bytes.Equal(got[i].Raw, all[i].ev.Raw) || got[i].Node != all[i].ev.Node {
					t.Fatalf("event %d: got tag %d node %s, want tag %d node %s", i, tagOf(t, got[i]), got[i].Node, tagOf(t, all[i].ev), all[i].ev.Node)
				}
			}
			if r.Problems() != 0 {
				t.Errorf("%d problems on clean files", r.Problems())
			}
		})
	}
}

// TestMergeBackwardRecords: a record earlier than its predecessor in the
// same file is not moved; it comes out right after that predecessor.
func TestMergeBackwardRecords(t *testing.T) {
	dir := t.TempDir()
	a := writeSeg(t, dir, "a.seg.zst", "a", tagged(t, 100, t0, t0+10, t0+5, t0+20), 0)
	b := writeSeg(t, dir, "b.seg.zst", "b", tagged(t, 200, t0+6, t0+12), 0)
	var got []int
	for _, ev := range readAll(t, open(t, []string{a, b})) {
		got = append(got, tagOf(t, ev))
	}
	want := []int{100, 200, 101, 102, 201, 103}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestLazyOpen: a node's sequential files are opened one at a time, as the
// merge reaches them, even with hundreds of files and two nodes.
func TestLazyOpen(t *testing.T) {
	files := 400
	if testing.Short() {
		files = 40
	}
	dir := manyFilesDir(t)
	parallel(files, func(i int) {
		node := []string{"a", "b"}[i%2]
		start := t0 + int64(i/2)*1000
		writeSeg(t, dir, fmt.Sprintf("%s-%04d.seg.zst", node, i), node, tagged(t, i*100, start, start+10, start+999), 0)
	})
	r := open(t, []string{dir}, Speed(Max))
	st := run(t, r, &collector{})
	if st.Events != uint64(3*files) {
		t.Errorf("events %d, want %d", st.Events, 3*files)
	}
	if st.FilesOpened != files {
		t.Errorf("opened %d files, want %d", st.FilesOpened, files)
	}
	// One per node, plus the next file opened ahead: a node's next file
	// is taken into the merge after its previous one was read and closed.
	if st.MaxOpen != 3 {
		t.Errorf("up to %d files open at once, want 3 (one per node and one ahead)", st.MaxOpen)
	}
	if got := len(r.Nodes()); got != 2 {
		t.Errorf("nodes %v", r.Nodes())
	}
}

// TestFilters: --only, --exclude and --node select exactly what a scan
// with the same predicate selects.
func TestFilters(t *testing.T) {
	dir := t.TempDir()
	evsA := everyKind(t, 400, t0)
	evsB := everyKind(t, 300, t0+5)
	a := writeSeg(t, dir, "a.seg.zst", "alpha", evsA, 4096)
	b := writePartial(t, dir, "b.seg.zst", "beta", evsB)
	all := readAll(t, open(t, []string{a, b}))
	for _, tc := range []struct {
		name string
		opts []Option
		keep func(ev event.Event) bool
	}{
		{"only netmsg,rpc", []Option{Only("netmsg,rpc")}, func(ev event.Event) bool { return ev.Kind == event.NetMsg || ev.Kind == event.RPC }},
		{"only netmsg:ping", []Option{Only("netmsg:ping")}, func(ev event.Event) bool { return ev.Kind == event.NetMsg && ev.Type == "ping" }},
		{"exclude log,unknown", []Option{Exclude("log", "unknown")}, func(ev event.Event) bool { return ev.Kind != event.Log && ev.Kind != event.Unknown }},
		{"node beta", []Option{Nodes("beta")}, func(ev event.Event) bool { return ev.Node == "beta" }},
		{"node alpha only ipc", []Option{Nodes("alpha"), Only("ipc")}, func(ev event.Event) bool { return ev.Node == "alpha" && ev.Kind == event.IPC }},
		{"unknown node", []Option{Nodes("gamma")}, func(event.Event) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []event.Event
			for _, ev := range all {
				if tc.keep(ev) {
					want = append(want, ev)
				}
			}
			got := readAll(t, open(t, []string{a, b}, tc.opts...))
			sameStream(t, got, want)
		})
	}
	if _, err := Open([]string{a}, Only("bogus")); err == nil {
		t.Error("Only(bogus) accepted")
	}
}

func sameStream(t testing.TB, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Raw, want[i].Raw) || got[i].Node != want[i].Node || got[i].Time != want[i].Time {
			t.Fatalf("event %d differs: got %d %s %s, want %d %s %s", i, got[i].Time, got[i].Node, got[i].Selector(), want[i].Time, want[i].Node, want[i].Selector())
		}
	}
}

// TestOpenErrors: bad paths and unreadable sets fail with clear errors;
// one unreadable file among good ones is reported and skipped.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeSeg(t, dir, "good.seg.zst", "n", tagged(t, 0, t0, t0+1), 0)
	junk := filepath.Join(dir, "junk.bin")
	writeFile(t, junk, []byte("this is not an archive at all"))
	if _, err := Open([]string{filepath.Join(dir, "missing.seg.zst")}); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := Open([]string{junk}, OnProblem(func(error) {})); err == nil {
		t.Error("a set of only junk accepted")
	}
	var problems []error
	r := open(t, []string{junk, good}, OnProblem(func(err error) { problems = append(problems, err) }))
	if got := len(readAll(t, r)); got != 2 {
		t.Errorf("got %d events from the good file, want 2", got)
	}
	if len(problems) != 1 || !bytes.Contains([]byte(problems[0].Error()), []byte("junk.bin")) {
		t.Errorf("problems %v, want one naming junk.bin", problems)
	}
	if _, err := Open([]string{good}, From(event.AbsTime(t0+5)), To(event.AbsTime(t0+5))); err == nil {
		t.Error("empty range accepted")
	}
}
