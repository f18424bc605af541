package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
)

// MissingError reports a requirement of the eBPF extractor that this
// process or kernel does not meet, with what to do about it.
type MissingError struct {
	What string // the missing capability or kernel feature
	Hint string // how to get it
	Err  error  // underlying cause, if any
}

// Error names the requirement, how to meet it, and the cause.
func (e *MissingError) Error() string {
	s := "missing requirement: " + e.What
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *MissingError) Unwrap() error { return e.Err }

// Linux capability numbers.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// uprobePMU is the kernel's uprobe PMU in sysfs (a variable so tests can
// point it at a kernel without one).
var uprobePMU = "/sys/bus/event_source/devices/uprobe"

var (
	reqOnce sync.Once
	reqErr  error
)

// Requirements checks, once per process, everything attaching to USDT
// probes needs, in the order a user would fix them: privileges (root, or
// CAP_BPF with CAP_PERFMON), the kernel's uprobe PMU with reference
// counters for semaphores (4.20+), BPF ring buffers (5.8+) and attach
// cookies (5.15+). It returns a *MissingError naming the first one
// missing. BTF is not needed: the programs read only struct pt_regs at
// offsets computed in Go, with no CO-RE relocations.
func Requirements() error {
	reqOnce.Do(func() { reqErr = checkRequirements() })
	return reqErr
}

func checkRequirements() error {
	caps, err := effectiveCaps()
	if err != nil {
		return &MissingError{What: "readable capabilities", Err: err}
	}
	if err := checkCaps(caps); err != nil {
		return err
	}
	if _, err := os.Stat(uprobePMU + "/type"); err != nil {
		return &MissingError{What: "kernel uprobe support",
			Hint: "kernel built without CONFIG_UPROBE_EVENTS, or /sys not mounted", Err: err}
	}
	if _, err := os.Stat(uprobePMU + "/format/ref_ctr_offset"); err != nil {
		return &MissingError{What: "uprobe reference counters (USDT semaphores)",
			Hint: "kernel 4.20 or newer", Err: err}
	}
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones
	// use memory cgroups and this is a no-op.
	if err := rlimit.RemoveMemlock(); err != nil {
		return &MissingError{What: "RLIMIT_MEMLOCK for BPF maps",
			Hint: "run as root or with CAP_SYS_RESOURCE on kernels before 5.11", Err: err}
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return &MissingError{What: "BPF ring buffers", Hint: "kernel 5.8 or newer", Err: err}
	}
	if err := features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie); err != nil {
		return &MissingError{What: "BPF attach cookies", Hint: "kernel 5.15 or newer", Err: err}
	}
	return nil
}

// checkCaps wants root's CAP_SYS_ADMIN or both CAP_BPF and CAP_PERFMON.
func checkCaps(caps uint64) error {
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return &MissingError{What: "privileges to load BPF programs and open uprobes: " + strings.Join(missing, " and "),
		Hint: fmt.Sprintf("run as root or grant them, e.g. setcap cap_bpf,cap_perfmon+ep; effective capabilities %#x", caps)}
}

// effectiveCaps reads CapEff of this process.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}
