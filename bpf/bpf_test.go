package bpf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/peertape/peertape/bpf/usdt"
)

// requireBPF skips when this process cannot load BPF programs, naming what
// is missing.
func requireBPF(t testing.TB) {
	t.Helper()
	if err := Requirements(); err != nil {
		t.Skipf("eBPF test skipped: %v", err)
	}
}

func TestRingSizes(t *testing.T) {
	for _, tc := range []struct {
		in          LoadOptions
		events, big int
		err         bool
	}{
		{LoadOptions{}, DefaultEventsRingSize, DefaultBigRingSize, false},
		{LoadOptions{EventsRingSize: 3 << 20, BigRingSize: 9 << 20}, 4 << 20, 16 << 20, false},
		{LoadOptions{EventsRingSize: 1 << 20}, 1 << 20, DefaultBigRingSize, false},
		{LoadOptions{EventsRingSize: 4096}, 0, 0, true},
		{LoadOptions{BigRingSize: 4 << 20}, 0, 0, true},
	} {
		e, b, err := tc.in.RingSizes()
		if (err != nil) != tc.err || e != tc.events || b != tc.big {
			t.Errorf("%+v: got %d %d %v, want %d %d err=%v", tc.in, e, b, err, tc.events, tc.big, tc.err)
		}
	}
}

func TestCheckCaps(t *testing.T) {
	for _, tc := range []struct {
		caps uint64
		ok   bool
		msg  string
	}{
		{1 << capSysAdmin, true, ""},
		{1<<capBPF | 1<<capPerfmon, true, ""},
		{1 << capBPF, false, "CAP_PERFMON"},
		{0, false, "CAP_BPF and CAP_PERFMON"},
	} {
		err := checkCaps(tc.caps)
		if (err == nil) != tc.ok {
			t.Errorf("caps %#x: err %v, want ok=%v", tc.caps, err, tc.ok)
			continue
		}
		var me *MissingError
		if err != nil && (!errors.As(err, &me) || !bytes.Contains([]byte(err.Error()), []byte(tc.msg))) {
			t.Errorf("caps %#x: %v, want MissingError naming %s", tc.caps, err, tc.msg)
		}
	}
}

// TestLoad loads every program through the verifier with default and
// minimal ring sizes.
func TestLoad(t *testing.T) {
	requireBPF(t)
	for _, o := range []LoadOptions{{}, {EventsRingSize: minEventsRingSize, BigRingSize: minBigRingSize}} {
		objs, err := Load(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := objs.Events.MaxEntries(); int(got) != roundPow2(max(o.EventsRingSize, 1)) && o.EventsRingSize != 0 {
			t.Errorf("events ring %d, want %d", got, o.EventsRingSize)
		}
		objs.Close()
	}
}

// buildProbes compiles bpf/usdt/testdata's probe program.
func buildProbes(t *testing.T, cc string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("%s not installed", cc)
	}
	out := filepath.Join(t.TempDir(), "probes")
	args := append(append([]string{}, flags...), "-o", out, "usdt/testdata/probes.c", "usdt/testdata/guarded.c")
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", cc, args, err, b)
	}
	return out
}

// TestUSDTArgs runs the generic argument reader in the kernel against the
// test program's probes, compiled so that the same values travel as stack
// slots (-O0), registers, folded constants and indexed memory (-O2), and
// checks every value with its width and sign. Guarded probes only fire when
// attaching raised their semaphores.
func TestUSDTArgs(t *testing.T) {
	requireBPF(t)
	for _, tc := range []struct {
		cc    string
		flags []string
	}{
		{"gcc", []string{"-O0"}}, {"gcc", []string{"-O2"}},
		{"clang", []string{"-O0"}}, {"clang", []string{"-O2"}},
	} {
		t.Run(tc.cc+tc.flags[0], func(t *testing.T) {
			path := buildProbes(t, tc.cc, tc.flags...)
			got := runProbes(t, path)
			want := map[string][]int64{
				// i64, u64, i32, u16, i8, string pointer (checked apart), p->a, arr[1]
				"mixed":     {-5, 1 << 40, -70000, 65535, -3, 0, 1000, 2},
				"constants": {42, -7},
				"guarded":   {-5, 0, -1},
				"guarded2":  {},
			}
			for name, w := range want {
				r, ok := got[name]
				if !ok {
					t.Errorf("probe %s did not fire (semaphore not raised?)", name)
					continue
				}
				if int(r.Nargs) != len(w) || r.Failed != 0 {
					t.Errorf("%s: nargs %d failed %#x, want %d args", name, r.Nargs, r.Failed, len(w))
					continue
				}
				for i, v := range w {
					isPtr := (name == "mixed" && i == 5) || (name == "guarded" && i == 1)
					if isPtr {
						if r.Args[i] == 0 {
							t.Errorf("%s arg %d: null string pointer", name, i+1)
						}
						continue
					}
					if int64(r.Args[i]) != v {
						t.Errorf("%s arg %d: got %d (%#x), want %d", name, i+1, int64(r.Args[i]), r.Args[i], v)
					}
				}
			}
		})
	}
}

// runProbes attaches handle_usdt_args to every probe of the program at
// path, lets it fire once and returns the records by probe name.
func runProbes(t *testing.T, path string) map[string]TracingUsdtArgs {
	t.Helper()
	f, err := usdt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Load(LoadOptions{EventsRingSize: minEventsRingSize, BigRingSize: minBigRingSize})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	rd, err := ringbuf.NewReader(objs.Events)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	cmd := exec.Command(path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ex, err := link.OpenExecutable(path)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{}
	for i, p := range f.Probes {
		spec, err := ArgSpec(p, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := objs.UsdtSpecs.Put(uint32(i), &spec); err != nil {
			t.Fatal(err)
		}
		l, err := ex.Uprobe("usdt_"+p.Name, objs.HandleUsdtArgs, &link.UprobeOptions{
			Address: p.Offset, RefCtrOffset: p.SemaphoreOffset, PID: cmd.Process.Pid, Cookie: uint64(i)})
		if err != nil {
			t.Fatalf("attach %s: %v", p, err)
		}
		defer l.Close()
		names[uint32(i)] = p.Name
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe program: %v", err)
	}
	got := map[string]TracingUsdtArgs{}
	rd.SetDeadline(time.Now().Add(5 * time.Second))
	for len(got) < len(f.Probes) {
		rec, err := rd.Read()
		if err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		if len(rec.RawSample) < int(unsafe.Sizeof(TracingUsdtArgs{})) {
			t.Fatalf("short record of %d bytes", len(rec.RawSample))
		}
		r := *(*TracingUsdtArgs)(unsafe.Pointer(&rec.RawSample[0]))
		if r.Hdr.Type != uint16(TracingRecTypeREC_USDT_ARGS) || int(r.Hdr.Pid) != cmd.Process.Pid {
			t.Fatalf("record type %d pid %d", r.Hdr.Type, r.Hdr.Pid)
		}
		name, ok := names[r.ProbeId]
		if !ok {
			t.Fatalf("record for unknown probe id %d", r.ProbeId)
		}
		got[name] = r
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestKernelRequirementErrors points the uprobe PMU at kernels without
// uprobes and without uprobe reference counters (semaphores): each is
// named, with the kernel needed. Privileges come first, so this needs
// them; the real kernel passes.
func TestKernelRequirementErrors(t *testing.T) {
	caps, err := effectiveCaps()
	if err != nil || checkCaps(caps) != nil {
		t.Skipf("needs CAP_BPF and CAP_PERFMON (or root) to get past the privilege check: caps %#x %v", caps, err)
	}
	real := uprobePMU
	defer func() { uprobePMU = real }()
	noRefCtr := t.TempDir()
	if err := os.WriteFile(filepath.Join(noRefCtr, "type"), []byte("9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pmu, what string
	}{
		{"no uprobes", filepath.Join(t.TempDir(), "missing"), "kernel uprobe support"},
		{"no reference counters", noRefCtr, "kernel 4.20 or newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uprobePMU = tc.pmu
			err := checkRequirements()
			var me *MissingError
			if !errors.As(err, &me) || !bytes.Contains([]byte(err.Error()), []byte(tc.what)) || !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("checkRequirements = %v, want a MissingError naming %q", err, tc.what)
			}
		})
	}
	uprobePMU = real
	if err := checkRequirements(); err != nil {
		t.Errorf("this kernel: %v", err)
	}
}
