// Command capture records a real-capture fixture: a small btcd regtest
// network (three nodes on loopback ports with temporary data directories)
// recorded by the all-in-one `peertape record` (RPC and P2P extractors
// in-process, no NATS) while blocks are mined, transactions are relayed
// and connections come and go.
//
//	go run ./tools/capture -o fixtures/btcd-regtest -duration 3m
//
// Run it from the repository root. It builds peertape from the working
// tree and btcd from the module go.mod selects (internal/testenv), replaces
// OUT/archive/ with the finished segments and writes OUT/README.md. The
// golden outputs are not written here: go run ./tools/fixtures makes them
// for every fixtures/*/archive.
//
// The network:
//
//	A (recorded) <-- B (--addpeer A)  <-- C (--addpeer B)
//	A <-> C: a temporary connection made and dropped during the run
//	A --addnode--> peertape's P2P extractor
//
// The log extractor is not used: btcd's log has none of Bitcoin Core's
// debug.log grammar, so every line would be an "unknown" log event, which
// says nothing about the extractor and would mislead an analyzer golden.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/internal/testenv"
)

func main() {
	out := flag.String("o", "fixtures/btcd-regtest", "fixture directory (ARCHIVE/ is replaced, README.md rewritten)")
	duration := flag.Duration("duration", 3*time.Minute, "how long to record")
	seed := flag.Uint64("seed", 1, "seed of the traffic schedule (what is done when; the chain itself differs every run)")
	peertapeBin := flag.String("peertape", "", "peertape binary to record with (default: built from ./cmd/peertape)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	t := newRunTB()
	defer t.cleanup()
	if err := run(t, *out, *duration, *seed, *peertapeBin); err != nil {
		t.Fatalf("%v", err)
	}
}

func run(t *runTB, out string, duration time.Duration, seed uint64, bin string) error {
	tmp := t.TempDir()
	if bin == "" {
		bin = filepath.Join(tmp, "peertape")
		slog.Info("building peertape from the working tree")
		if b, err := exec.Command(goTool(), "build", "-o", bin, "./cmd/peertape").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/peertape: %w\n%s", err, b)
		}
	}

	// The network: B mines the first 110 blocks (coinbase maturity for
	// the transactions) before recording, so the capture is of a working
	// network, not of its bootstrap.
	a := testenv.StartBtcd(t, testenv.BtcdOptions{})
	b := testenv.StartBtcd(t, testenv.BtcdOptions{AddPeers: []string{a.P2PAddr}})
	c := testenv.StartBtcd(t, testenv.BtcdOptions{AddPeers: []string{b.P2PAddr}})
	nodes := []*testenv.Btcd{a, b, c}
	testenv.WaitFor(t, 60*time.Second, "B connected to A and C to B", func() bool {
		return a.ConnectionCount() >= 1 && c.ConnectionCount() >= 1
	})
	b.Generate(110)
	waitSynced(t, nodes)
	slog.Info("network ready", "A", a.P2PAddr, "B", b.P2PAddr, "C", c.P2PAddr, "height", a.BlockCount())

	archive := filepath.Join(tmp, "archive")
	p2pAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"--log-format", "json", "record", "--dir", archive, "--node", "btcd-regtest-a",
		"--rpc-host", a.RPCAddr, "--rpc-user", a.RPCUser, "--rpc-password", a.RPCPass,
		"--query-interval", "2s", "--query-interval-less-frequent", "20s",
		"--p2p-address", p2pAddr, "--p2p-network", "regtest", "--ping-interval", "2s",
		"--max-segment-age", "1m", "--metrics-addr", "",
		"--label", "fixture=btcd-regtest"}
	rec := exec.Command(bin, args...)
	stderr, err := os.Create(filepath.Join(tmp, "record.log"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	rec.Stderr = stderr
	rec.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rec.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- rec.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			rec.Process.Kill()
			<-done
		}
	})
	testenv.WaitFor(t, 20*time.Second, "the recorder to start", func() bool {
		return logHas(stderr.Name(), `"msg":"recording"`)
	})
	a.Call("addnode", p2pAddr, "add")
	testenv.WaitFor(t, 30*time.Second, "A connected to the P2P extractor", func() bool {
		return hasPeer(a, "p2p-extractor")
	})
	slog.Info("recording", "duration", duration, "peertape", strings.Join(args, " "))

	st := traffic(t, nodes, duration, seed)

	if err := rec.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("peertape record: %w\n%s", err, tail(stderr.Name()))
		}
	case <-time.After(20 * time.Second):
		return fmt.Errorf("peertape record still running 20s after SIGTERM\n%s", tail(stderr.Name()))
	}
	return install(out, archive, args, duration, seed, st, a)
}

// stats counts what the traffic generator did.
type stats struct {
	blocks       map[string]int // by node
	txs          int
	connects     int
	disconnects  int
	startHeight  int64
	finalHeight  int64
	maxMempoolTx int
}

// traffic mines blocks on random nodes, relays transactions from B and
// connects C to A and drops it again, until duration has passed. The
// schedule comes from seed; the chain does not (block times and hashes
// differ every run).
func traffic(t *runTB, nodes []*testenv.Btcd, duration time.Duration, seed uint64) stats {
	a, b, c := nodes[0], nodes[1], nodes[2]
	names := []string{"A", "B", "C"}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	st := stats{blocks: map[string]int{}, startHeight: a.BlockCount()}
	connected := false
	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		switch r := rng.IntN(10); {
		case r < 5: // a transaction from B, relayed to A (and C)
			b.SendTx()
			st.txs++
		case r < 7: // a block from any node
			i := rng.IntN(3)
			nodes[i].Generate(1)
			st.blocks[names[i]]++
		case r < 8: // churn: C connects to A, or drops the connection
			if connected {
				if _, err := c.TryCall("node", "disconnect", a.P2PAddr); err == nil {
					st.disconnects++
					connected = false
				} else {
					slog.Warn("disconnect C from A", "error", err)
				}
			} else if _, err := c.TryCall("node", "connect", a.P2PAddr, "temp"); err == nil {
				st.connects++
				connected = true
			} else {
				slog.Warn("connect C to A", "error", err)
			}
		default: // a quiet moment
		}
		st.maxMempoolTx = max(st.maxMempoolTx, a.MempoolSize())
		// Pacing of a traffic generator, not synchronisation: 0.5-2.5 s
		// between actions spreads them over the recording.
		time.Sleep(500*time.Millisecond + time.Duration(rng.IntN(2000))*time.Millisecond)
	}
	// Settle: the last blocks reach A (and its pollers) before the stop.
	waitSynced(t, nodes)
	st.finalHeight = a.BlockCount()
	time.Sleep(5 * time.Second) // two more RPC and ping rounds after the last change
	return st
}

// waitSynced waits until every node has the same tip.
func waitSynced(t *runTB, nodes []*testenv.Btcd) {
	testenv.WaitFor(t, 60*time.Second, "the nodes to agree on the tip", func() bool {
		var first string
		for i, n := range nodes {
			var h string
			n.CallInto(&h, "getbestblockhash")
			if i == 0 {
				first = h
			} else if h != first {
				return false
			}
		}
		return true
	})
}

func hasPeer(n *testenv.Btcd, ua string) bool {
	var peers []struct {
		SubVer string `json:"subver"`
	}
	n.CallInto(&peers, "getpeerinfo")
	for _, p := range peers {
		if strings.Contains(p.SubVer, ua) {
			return true
		}
	}
	return false
}

// install checks the recorded segments, replaces OUT/archive with them
// and writes OUT/README.md.
func install(out, archive string, args []string, duration time.Duration, seed uint64, st stats, a *testenv.Btcd) error {
	files, err := format.Expand([]string{archive})
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("the recorder wrote no segment")
	}
	var sums []*format.Summary
	kinds := map[string]uint64{}
	var events uint64
	var size int64
	for _, f := range files {
		s, err := format.Summarize(f)
		if err != nil {
			return err
		}
		if !s.Complete || len(s.Problems) > 0 {
			return fmt.Errorf("%s: status %s, problems %v", f, s.Status, s.Problems)
		}
		sums = append(sums, s)
		for k, n := range s.Kinds {
			kinds[k] += n
		}
		events += s.Events
		size += s.BytesCompressed
	}
	if kinds["rpc"] == 0 || kinds["p2p"] == 0 {
		return fmt.Errorf("recorded kinds %v: want rpc and p2p", kinds)
	}
	dst := filepath.Join(out, "archive")
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := copyFile(f, filepath.Join(dst, filepath.Base(f))); err != nil {
			return err
		}
	}

	var kindList []string
	for k, n := range kinds {
		kindList = append(kindList, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kindList)
	var blocks []string
	for _, n := range []string{"A", "B", "C"} {
		blocks = append(blocks, fmt.Sprintf("%s %d", n, st.blocks[n]))
	}
	first := sums[0]
	var readme bytes.Buffer
	fmt.Fprintf(&readme, `# btcd-regtest: a real capture of a small btcd network

%s of a three-node btcd %s regtest network on loopback, recorded with
peertape's all-in-one recorder (RPC and P2P extractors in-process, no NATS)
against node A. Captured %s.

    A (recorded) <-- B (--addpeer A) <-- C (--addpeer B)
    A <-> C      a temporary connection, made and dropped during the run
    A --addnode--> peertape's P2P extractor

Before recording, B mined 110 blocks (coinbase maturity) and all nodes
synced. While recording, a seeded schedule (seed %d, one action every
0.5-2.5 s) made:

- %d transactions, sent to B and relayed to A (most %d at once in A's mempool)
- blocks mined by %s (height %d -> %d)
- %d connections and %d disconnections between C and A

Contents: %d segments, %d events (%s), %d bytes.
Node metadata: %s %s on %s.

The log extractor is not part of this capture: btcd's log has none of
Bitcoin Core's debug.log grammar, so every line would be an "unknown" log
event. Core-shaped log lines are in fixtures/core/log.

RPC methods btcd lacks (getmemoryinfo, getaddrmaninfo, getnetworkinfo,
getorphantxs, getchaintxstats, getrawaddrman) are absent: the extractor
marks them unsupported and keeps polling the others.

## Made with

    peertape %s

(the RPC credentials and ports were those of the temporary nodes).

## Regenerate

    go run ./tools/capture -o fixtures/btcd-regtest -duration %s
    go run ./tools/fixtures -goldens

The first command builds btcd from the module go.mod selects and peertape
from the working tree; it takes the recording time plus about a minute.
The chain (hashes, times, sizes) differs on every run, so regenerate the
goldens with it and review both.
`, shortDuration(duration), versionOf(first.ImplementationVersion), time.Now().UTC().Format("2006-01-02"), seed,
		st.txs, st.maxMempoolTx, strings.Join(blocks, ", "), st.startHeight, st.finalHeight, st.connects, st.disconnects,
		len(files), events, strings.Join(kindList, ", "), size,
		first.Implementation, first.ImplementationVersion, first.Network,
		strings.Join(redact(args, a), " "), shortDuration(duration))
	if err := os.WriteFile(filepath.Join(out, "README.md"), readme.Bytes(), 0o644); err != nil {
		return err
	}
	slog.Info("fixture written", "dir", out, "segments", len(files), "events", events, "bytes", size, "kinds", strings.Join(kindList, ", "))
	return nil
}

// shortDuration writes 3m0s as 3m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// versionOf extracts btcd's version from its user agent.
func versionOf(ua string) string {
	for _, c := range strings.Split(ua, "/") {
		if v, ok := strings.CutPrefix(c, "btcd:"); ok {
			return v
		}
	}
	return ua
}

// redact replaces the temporary node's secrets and ports in the command.
func redact(args []string, a *testenv.Btcd) []string {
	out := make([]string, len(args))
	for i, s := range args {
		switch s {
		case a.RPCPass:
			s = "PASSWORD"
		case a.RPCAddr:
			s = "127.0.0.1:RPCPORT"
		case "":
			s = `""`
		}
		if i > 0 && args[i-1] == "--p2p-address" {
			s = "127.0.0.1:P2PPORT"
		}
		if strings.HasPrefix(s, "/") || strings.Contains(s, os.TempDir()) {
			s = "DIR"
		}
		out[i] = s
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

func logHas(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// runTB lets a command use internal/testenv's btcd nodes outside a test.
// testenv calls only Helper, Fatalf, Errorf, Logf, TempDir and Cleanup;
// the embedded (nil) testing.TB supplies the interface's unexported
// method, and any other method would panic, which no path here reaches.
type runTB struct {
	testing.TB
	root     string
	n        int
	cleanups []func()
	failed   bool
}

func newRunTB() *runTB {
	root, err := os.MkdirTemp("", "peertape-capture-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
	t := &runTB{root: root}
	t.Cleanup(func() { os.RemoveAll(root) })
	return t
}

func (t *runTB) Helper()                   {}
func (t *runTB) Name() string              { return "capture" }
func (t *runTB) Failed() bool              { return t.failed }
func (t *runTB) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *runTB) Logf(f string, a ...any)   { slog.Info(fmt.Sprintf(f, a...)) }
func (t *runTB) Errorf(f string, a ...any) { t.failed = true; slog.Error(fmt.Sprintf(f, a...)) }
func (t *runTB) Fatalf(f string, a ...any) { t.Errorf(f, a...); t.cleanup(); os.Exit(1) }
func (t *runTB) Log(a ...any)              { slog.Info(fmt.Sprint(a...)) }
func (t *runTB) Error(a ...any)            { t.Errorf("%s", fmt.Sprint(a...)) }
func (t *runTB) Fatal(a ...any)            { t.Fatalf("%s", fmt.Sprint(a...)) }
func (t *runTB) Skipf(f string, a ...any)  { t.Fatalf("skip: "+f, a...) }

// TempDir returns a new directory under the run's temporary root.
func (t *runTB) TempDir() string {
	t.n++
	d := filepath.Join(t.root, fmt.Sprintf("%03d", t.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("capture: %v", err)
	}
	return d
}

// cleanup runs the cleanups once, newest first (nodes stop before their
// directories go).
func (t *runTB) cleanup() {
	cs := t.cleanups
	t.cleanups = nil
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}
