package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// BtcdOptions configures a btcd node started by StartBtcd. The zero value
// is a regtest node that listens for P2P on a loopback port, serves RPC
// over plain HTTP with a random user and password, and has no peers.
type BtcdOptions struct {
	// Network is "regtest" (default) or "simnet".
	Network string
	// AddPeers are --addpeer addresses (persistent outbound peers the node
	// reconnects to, like Core's -addnode).
	AddPeers []string
	// ConnectPeers are --connect addresses (the node connects only to these).
	ConnectPeers []string
	// TLS serves RPC over TLS with a certificate btcd generates in its
	// directory (Btcd.CertFile).
	TLS bool
	// NoListen disables inbound P2P connections.
	NoListen bool
	// Args are extra command-line arguments.
	Args []string
	// Ready bounds the wait for the RPC server at each start (default 60s).
	Ready time.Duration
}

// Btcd is a running btcd node. Its methods fail the test on errors.
type Btcd struct {
	t    testing.TB
	opts BtcdOptions

	// Dir holds the node's data, logs and RPC certificate.
	Dir string
	// RPCAddr and P2PAddr are the loopback host:port the node serves RPC
	// and P2P on; they stay the same across Restart.
	RPCAddr, P2PAddr string
	// RPCUser and RPCPass authenticate RPC calls.
	RPCUser, RPCPass string
	// CertFile is the RPC TLS certificate (with TLS only).
	CertFile string
	// Params are the node's chain parameters.
	Params *chaincfg.Params
	// MiningAddr receives the coinbase of every generated block; Key owns it.
	MiningAddr address.Address
	Key        *btcec.PrivateKey

	http *http.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	spent   int // coinbases of heights 1..spent are spent by SendTx
	started int
}

// StartBtcd builds btcd from the module (cached across runs, see
// BtcdBinary), starts it with a temporary directory and loopback ports,
// waits until its RPC server answers and stops it at cleanup.
func StartBtcd(t testing.TB, o BtcdOptions) *Btcd {
	t.Helper()
	bin := BtcdBinary(t)
	if o.Network == "" {
		o.Network = "regtest"
	}
	if o.Ready == 0 {
		o.Ready = 60 * time.Second
	}
	n := &Btcd{t: t, opts: o, Dir: t.TempDir(), RPCUser: "peertape", RPCPass: randomHex(t, 12)}
	switch o.Network {
	case "regtest":
		n.Params = &chaincfg.RegressionNetParams
	case "simnet":
		n.Params = &chaincfg.SimNetParams
	default:
		t.Fatalf("testenv: btcd network %q: want regtest or simnet", o.Network)
	}
	// A fixed key keeps addresses stable between runs, which makes logs
	// comparable; the chain is private to the test anyway.
	seed := sha256.Sum256([]byte("peertape testenv btcd mining key"))
	n.Key, _ = btcec.PrivKeyFromBytes(seed[:])
	addr, err := address.NewAddressPubKeyHash(address.Hash160(n.Key.PubKey().SerializeCompressed()), n.Params)
	if err != nil {
		t.Fatalf("testenv: mining address: %v", err)
	}
	n.MiningAddr = addr
	n.RPCAddr = freeLoopbackAddr(t)
	n.P2PAddr = freeLoopbackAddr(t)
	if o.TLS {
		n.CertFile = filepath.Join(n.Dir, "rpc.cert")
	}
	n.start(bin)
	t.Cleanup(n.Stop)
	return n
}

func (n *Btcd) args() []string {
	a := []string{
		"--" + n.opts.Network,
		"--datadir=" + filepath.Join(n.Dir, "data"),
		"--logdir=" + filepath.Join(n.Dir, "logs"),
		"--configfile=" + filepath.Join(n.Dir, "btcd.conf"),
		"--rpccert=" + filepath.Join(n.Dir, "rpc.cert"),
		"--rpckey=" + filepath.Join(n.Dir, "rpc.key"),
		"--rpclisten=" + n.RPCAddr,
		"--rpcuser=" + n.RPCUser,
		"--rpcpass=" + n.RPCPass,
		"--miningaddr=" + n.MiningAddr.EncodeAddress(),
		"--nodnsseed",
		"--debuglevel=debug",
		// The extractor under test never serves blocks; without this
		// btcd would eventually drop it as a stalled sync peer.
		"--nostalldetect",
	}
	if !n.opts.TLS {
		a = append(a, "--notls")
	}
	if n.opts.NoListen {
		a = append(a, "--nolisten")
	} else {
		a = append(a, "--listen="+n.P2PAddr)
	}
	for _, p := range n.opts.AddPeers {
		a = append(a, "--addpeer="+p)
	}
	for _, p := range n.opts.ConnectPeers {
		a = append(a, "--connect="+p)
	}
	return append(a, n.opts.Args...)
}

func (n *Btcd) start(bin string) {
	n.t.Helper()
	if err := os.WriteFile(filepath.Join(n.Dir, "btcd.conf"), nil, 0o600); err != nil {
		n.t.Fatalf("testenv: %v", err)
	}
	n.started++
	out, err := os.OpenFile(filepath.Join(n.Dir, fmt.Sprintf("stdout-%d.log", n.started)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		n.t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(bin, n.args()...)
	cmd.Stdout, cmd.Stderr = out, out
	// The node must not outlive a test binary that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		n.t.Fatalf("testenv: start btcd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	if n.http == nil {
		n.http = n.newHTTPClient()
	}
	deadline := time.Now().Add(n.opts.Ready)
	for {
		_, err := n.call("getblockcount")
		if err == nil {
			return
		}
		select {
		case <-exited:
			n.t.Fatalf("testenv: btcd exited during start-up: %v\n%s", err, n.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testenv: btcd RPC not ready after %v: %v\n%s", n.opts.Ready, err, n.tail(40))
		}
		time.Sleep(50 * time.Millisecond) // polling readiness, bounded by the deadline
	}
}

// newHTTPClient trusts the node's generated certificate. btcd writes it
// at start-up, so it is loaded for each connection.
func (n *Btcd) newHTTPClient() *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	if n.opts.TLS {
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			pem, err := os.ReadFile(n.CertFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			host, _, _ := net.SplitHostPort(addr)
			d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: host}}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Stop shuts the node down gracefully (SIGINT, as btcd expects), killing
// it if it has not exited within 30 seconds. Stopping twice is harmless.
func (n *Btcd) Stop() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		n.t.Errorf("testenv: btcd did not stop within 30s after SIGINT; killed")
	}
}

// Restart stops the node and starts it again with the same directory and
// ports, waiting until RPC answers. A simnet node keeps its chain; a
// regtest node starts from genesis again, because btcd deletes its regtest
// block database at every start.
func (n *Btcd) Restart() {
	n.t.Helper()
	n.Stop()
	n.start(BtcdBinary(n.t))
}

// Exited reports whether the node process has ended.
func (n *Btcd) Exited() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return true
	}
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// LogFile is btcd's own log (btcd.log in its log directory).
func (n *Btcd) LogFile() string {
	return filepath.Join(n.Dir, "logs", n.Params.Name, "btcd.log")
}

func (n *Btcd) tail(lines int) string {
	b, _ := os.ReadFile(n.LogFile())
	if len(b) == 0 {
		b, _ = os.ReadFile(filepath.Join(n.Dir, fmt.Sprintf("stdout-%d.log", n.started)))
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// URL is the node's RPC endpoint.
func (n *Btcd) URL() string {
	if n.opts.TLS {
		return "https://" + n.RPCAddr
	}
	return "http://" + n.RPCAddr
}

// RPCError is a JSON-RPC error the node returned.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Call makes a JSON-RPC call and returns the raw result; it fails the
// test on any error.
func (n *Btcd) Call(method string, params ...any) json.RawMessage {
	n.t.Helper()
	res, err := n.call(method, params...)
	if err != nil {
		n.t.Fatalf("testenv: btcd %s: %v", method, err)
	}
	return res
}

// CallInto makes a JSON-RPC call and decodes the result into v.
func (n *Btcd) CallInto(v any, method string, params ...any) {
	n.t.Helper()
	if err := json.Unmarshal(n.Call(method, params...), v); err != nil {
		n.t.Fatalf("testenv: btcd %s result: %v", method, err)
	}
}

// TryCall is Call returning the error instead of failing the test.
func (n *Btcd) TryCall(method string, params ...any) (json.RawMessage, error) {
	return n.call(method, params...)
}

func (n *Btcd) call(method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, n.URL(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(n.RPCUser, n.RPCPass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("status %s: %q", resp.Status, raw)
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return out.Result, nil
}

// BlockCount returns the node's chain height.
func (n *Btcd) BlockCount() int64 {
	n.t.Helper()
	var h int64
	n.CallInto(&h, "getblockcount")
	return h
}

// Generate mines blocks paying MiningAddr and returns their hashes.
func (n *Btcd) Generate(blocks int) []*chainhash.Hash {
	n.t.Helper()
	var hexes []string
	n.CallInto(&hexes, "generate", blocks)
	out := make([]*chainhash.Hash, len(hexes))
	for i, h := range hexes {
		hash, err := chainhash.NewHashFromStr(h)
		if err != nil {
			n.t.Fatalf("testenv: generate returned %q: %v", h, err)
		}
		out[i] = hash
	}
	return out
}

// ConnectionCount returns the node's number of connected peers.
func (n *Btcd) ConnectionCount() int {
	n.t.Helper()
	var c int
	n.CallInto(&c, "getconnectioncount")
	return c
}

// MempoolSize returns the number of transactions in the node's mempool.
func (n *Btcd) MempoolSize() int {
	n.t.Helper()
	var txids []string
	n.CallInto(&txids, "getrawmempool")
	return len(txids)
}

// SendTx creates mempool traffic: it spends the next unspent coinbase of
// MiningAddr (mining the 100 blocks of coinbase maturity first if needed)
// back to MiningAddr and submits it with sendrawtransaction. It returns
// the transaction id.
func (n *Btcd) SendTx() *chainhash.Hash {
	n.t.Helper()
	const maturity = 100
	height := n.spent + 1
	if tip := n.BlockCount(); tip < int64(height+maturity) {
		n.Generate(height + maturity - int(tip))
	}
	var blockHash string
	n.CallInto(&blockHash, "getblockhash", height)
	var blockHex string
	n.CallInto(&blockHex, "getblock", blockHash, 0)
	raw, err := hex.DecodeString(blockHex)
	if err != nil {
		n.t.Fatalf("testenv: block %d: %v", height, err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		n.t.Fatalf("testenv: block %d: %v", height, err)
	}
	cb := blk.Transactions[0]
	prevOut := cb.TxOut[0]
	pkScript, err := txscript.PayToAddrScript(n.MiningAddr)
	if err != nil {
		n.t.Fatalf("testenv: %v", err)
	}
	tx := wire.NewMsgTx(wire.TxVersion)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(new(chainhash.Hash), 0), nil, nil))
	tx.TxIn[0].PreviousOutPoint.Hash = cb.TxHash()
	const fee = 10_000 // sat, far above btcd's minimum relay fee
	tx.AddTxOut(wire.NewTxOut(prevOut.Value-fee, pkScript))
	sig, err := txscript.SignatureScript(tx, 0, prevOut.PkScript, txscript.SigHashAll, n.Key, true)
	if err != nil {
		n.t.Fatalf("testenv: sign: %v", err)
	}
	tx.TxIn[0].SignatureScript = sig
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		n.t.Fatalf("testenv: %v", err)
	}
	var txid string
	n.CallInto(&txid, "sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	n.spent = height
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		n.t.Fatalf("testenv: sendrawtransaction returned %q: %v", txid, err)
	}
	return h
}

// WaitFor polls cond every 20ms until it returns true, failing the test
// with msg after timeout. Use it to wait for a state another process
// reaches, never as a fixed delay.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	btcdOnce sync.Mutex
	btcdPath string
)

// BtcdBinary returns the path of a btcd binary built from the btcd module
// version this repository's go.mod selects. The binary is cached in the
// user cache directory (keyed by btcd and Go version), so only the first
// test run pays for the build; concurrent test processes build into
// temporary names and rename atomically.
func BtcdBinary(t testing.TB) string {
	t.Helper()
	btcdOnce.Lock()
	defer btcdOnce.Unlock()
	if btcdPath != "" {
		return btcdPath
	}
	gobin := goTool()
	out, err := exec.Command(gobin, "list", "-m", "-f", "{{.Version}}", "github.com/btcsuite/btcd").Output()
	if err != nil {
		t.Fatalf("testenv: go list btcd module: %v", err)
	}
	version := strings.TrimSpace(string(out))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "peertape-testenv")
	path := filepath.Join(dir, fmt.Sprintf("btcd-%s-%s-%s_%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH))
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		btcdPath = path
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	t.Logf("testenv: building btcd %s (cached in %s)", version, dir)
	build := exec.Command(gobin, "build", "-o", tmp, "github.com/btcsuite/btcd")
	if b, err := build.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("testenv: go build github.com/btcsuite/btcd: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	btcdPath = path
	return path
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago. The port is released before the node binds it; a collision
// with another process is possible but rare on a test machine.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
