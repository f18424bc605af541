package ebpf

import (
	"bufio"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/peertape/peertape/bpf/bpftest"
)

// TestBpftraceAgrees attaches bpftrace, an independent USDT implementation,
// to the same probes as the extractor and checks that both read the same
// argument values from one firing.
func TestBpftraceAgrees(t *testing.T) {
	bpftest.Require(t)
	bt, err := exec.LookPath("bpftrace")
	if err != nil {
		t.Skip("bpftrace not installed (Debian package bpftrace): no independent oracle")
	}
	for _, opt := range []string{"-O2", "-O0"} {
		t.Run(opt, func(t *testing.T) {
			bin := bpftest.Binary(t, opt)
			fc := bpftest.Start(t, bin)
			r := startExtractor(t, Options{BinaryPath: bin, PID: fc.Pid, Node: "test-node"})
			fc.Wait("net:inbound_message", "validation:block_connected", "mempool:removed")
			r.attachedTo(t, fc.Pid)

			// bpftrace runs BEGIN once every probe is attached.
			script := fmt.Sprintf(`BEGIN { printf("ready\n"); }
usdt:%[1]s:net:inbound_message { printf("msg %%d %%s %%s %%s %%d\n", arg0, str(arg1), str(arg2), str(arg3), arg4); }
usdt:%[1]s:validation:block_connected { printf("block %%d %%d %%d %%d %%d\n", arg1, arg2, arg3, arg4, arg5); }
usdt:%[1]s:mempool:removed { printf("removed %%s %%d %%d %%d\n", str(arg1), arg2, arg3, arg4); }`, bin)
			cmd := exec.Command(bt, "-p", fmt.Sprint(fc.Pid), "-e", script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func() string {
				t.Helper()
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("bpftrace exited")
					}
					return l
				case <-time.After(30 * time.Second):
					t.Fatal("bpftrace printed nothing within 30s")
				}
				return ""
			}
			for l := next(); l != "ready"; l = next() {
			}

			fc.Do("msg in -7 [2001:db8::2]:8333 manual feefilter %s", fc.Payload(le64(1234)))
			fc.Do("block %s 765432 3000 -1 123456789 987654321", hx(seq32(9)))
			fc.Do("removed %s conflict -250 -2500 1700000000", hx(seq32(8)))

			got := []string{next(), next(), next()}
			// Our events for the same three firings, rendered the same way.
			var ours []string
			for range 3 {
				msg, err := r.sink.next(t).Decode()
				if err != nil {
					t.Fatal(err)
				}
				e := msg.GetEbpfExtractor()
				switch {
				case e.GetMessage() != nil:
					m := e.GetMessage().GetMeta()
					ours = append(ours, fmt.Sprintf("msg %d %s %s %s %d", int64(m.GetPeerId()), m.GetAddr(), "manual", m.GetCommand(), m.GetSize()))
				case e.GetValidation() != nil:
					b := e.GetValidation().GetBlockConnected()
					ours = append(ours, fmt.Sprintf("block %d %d %d %d %d", b.GetHeight(), b.GetTransactions(), b.GetInputs(), b.GetSigops(), b.GetConnectionTime()))
				default:
					rm := e.GetMempool().GetRemoved()
					ours = append(ours, fmt.Sprintf("removed %s %d %d %d", rm.GetReason(), rm.GetVsize(), rm.GetFee(), rm.GetEntryTime()))
				}
			}
			want := []string{
				"msg -7 [2001:db8::2]:8333 manual feefilter 8",
				"block 765432 3000 -1 123456789 987654321",
				"removed conflict -250 -2500 1700000000",
			}
			for i := range want {
				if got[i] != want[i] || ours[i] != want[i] {
					t.Errorf("firing %d: bpftrace %q, extractor %q, want %q", i, got[i], ours[i], want[i])
				}
			}
		})
	}
}
