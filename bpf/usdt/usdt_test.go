package usdt

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// build compiles testdata/probes.c and guarded.c with cc and flags, or
// skips when the compiler or sys/sdt.h is missing.
func build(t *testing.T, cc string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("%s not installed: %v", cc, err)
	}
	out := filepath.Join(t.TempDir(), "probes")
	args := append(append([]string{}, flags...), "-o", out, "testdata/probes.c", "testdata/guarded.c")
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		if bytes.Contains(b, []byte("sys/sdt.h")) {
			t.Skipf("sys/sdt.h missing (Debian package systemtap-sdt-dev): %s", b)
		}
		t.Fatalf("%s %v: %v\n%s", cc, args, err, b)
	}
	return out
}

type readelfProbe struct {
	Provider, Name     string
	PC, Base, Semaphre uint64
	Args               string
}

var locRE = regexp.MustCompile(`Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)`)

// readelfNotes is the oracle: the probes as binutils prints them.
func readelfNotes(t *testing.T, path string) []readelfProbe {
	t.Helper()
	out, err := exec.Command("readelf", "-n", path).Output()
	if err != nil {
		t.Skipf("readelf (binutils) not usable: %v", err)
	}
	var ps []readelfProbe
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Provider: "):
			ps = append(ps, readelfProbe{Provider: strings.TrimPrefix(line, "Provider: ")})
		case strings.HasPrefix(line, "Name: ") && len(ps) > 0:
			ps[len(ps)-1].Name = strings.TrimPrefix(line, "Name: ")
		case strings.HasPrefix(line, "Location: ") && len(ps) > 0:
			m := locRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("unexpected readelf line %q", line)
			}
			p := &ps[len(ps)-1]
			p.PC, _ = strconv.ParseUint(m[1], 0, 64)
			p.Base, _ = strconv.ParseUint(m[2], 0, 64)
			p.Semaphre, _ = strconv.ParseUint(m[3], 0, 64)
		case strings.HasPrefix(line, "Arguments:") && len(ps) > 0:
			ps[len(ps)-1].Args = strings.TrimSpace(strings.TrimPrefix(line, "Arguments:"))
		}
	}
	return ps
}

func symbol(t *testing.T, path, name string) uint64 {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("symbol %s not in %s", name, path)
	return 0
}

// TestProbesMatchReadelf compiles the probe program with both compilers,
// at -O0 (stack operands) and -O2 (registers, constants, indexed memory),
// as PIE and non-PIE, and checks every note against readelf -n, the
// semaphores against the symbol table, and the file offsets against the
// bytes there (a nop at the probe, a zero semaphore).
func TestProbesMatchReadelf(t *testing.T) {
	for _, tc := range []struct {
		cc    string
		flags []string
	}{
		{"gcc", []string{"-O0"}},
		{"gcc", []string{"-O2"}},
		{"gcc", []string{"-O2", "-no-pie"}},
		{"clang", []string{"-O0"}},
		{"clang", []string{"-O2"}},
		{"clang", []string{"-O2", "-no-pie", "-fno-pie"}},
	} {
		t.Run(tc.cc+strings.Join(tc.flags, ""), func(t *testing.T) {
			path := build(t, tc.cc, tc.flags...)
			want := readelfNotes(t, path)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != elf.EM_X86_64 {
				t.Skipf("test program built for %s; the oracle comparison is written for x86-64", f.Machine)
			}
			if len(f.Probes) != len(want) || len(want) != 4 {
				t.Fatalf("got %d probes, readelf %d (want 4)", len(f.Probes), len(want))
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range f.Probes {
				w := want[i]
				got := readelfProbe{p.Provider, p.Name, p.PC, p.Base, p.Semaphore, p.ArgSpec}
				if got != w {
					t.Errorf("probe %d: got %+v, readelf %+v", i, got, w)
				}
				if p.ArgsErr != nil {
					t.Errorf("%s: args %q: %v", p, p.ArgSpec, p.ArgsErr)
				}
				if n := len(strings.Fields(p.ArgSpec)); len(p.Args) != n {
					t.Errorf("%s: %d args parsed from %q", p, len(p.Args), p.ArgSpec)
				}
				if raw[p.Offset] != 0x90 {
					t.Errorf("%s: byte at file offset %#x is %#x, want nop (0x90)", p, p.Offset, raw[p.Offset])
				}
				if strings.HasPrefix(p.Name, "guarded") {
					if sym := symbol(t, path, "test_"+p.Name+"_semaphore"); sym != p.Semaphore {
						t.Errorf("%s: semaphore %#x, symbol at %#x", p, p.Semaphore, sym)
					}
					if p.SemaphoreOffset == 0 || raw[p.SemaphoreOffset] != 0 || raw[p.SemaphoreOffset+1] != 0 {
						t.Errorf("%s: semaphore file offset %#x does not hold a zero short", p, p.SemaphoreOffset)
					}
				} else if p.Semaphore != 0 || p.SemaphoreOffset != 0 {
					t.Errorf("%s: unexpected semaphore %#x/%#x", p, p.Semaphore, p.SemaphoreOffset)
				}
			}
			if got := f.Find("test", "guarded"); len(got) != 1 || got[0].Name != "guarded" {
				t.Errorf("Find(test, guarded) = %v", got)
			}
			if got := f.Find("test", "nope"); got != nil {
				t.Errorf("Find(test, nope) = %v", got)
			}
		})
	}
}

// TestBaseAdjustment moves the recorded .stapsdt.base in a copy of the
// binary, as prelinking does, and expects PC and semaphore to move by the
// same distance in the other direction. (Raising the base keeps the moved
// semaphores inside file-backed data.)
func TestBaseAdjustment(t *testing.T) {
	path := build(t, "gcc", "-O2")
	orig, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sec := ef.Section(".note.stapsdt")
	ef.Close()
	const shift = 2
	// Walk the notes in the file copy and raise each recorded base.
	data := raw[sec.Offset : sec.Offset+sec.Size]
	for off := 0; off < len(data); {
		namesz := int(le32(data[off:]))
		descsz := int(le32(data[off+4:]))
		desc := off + 12 + align4(namesz)
		base := desc + 8
		putLE64(data[base:], le64(data[base:])+shift)
		off = desc + align4(descsz)
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.WriteFile(moved, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Open(moved)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got.Probes {
		o := orig.Probes[i]
		if p.PC != o.PC-shift || p.Base != o.Base+shift || p.Offset != o.Offset-shift {
			t.Errorf("%s: pc %#x base %#x offset %#x, want %#x %#x %#x", p, p.PC, p.Base, p.Offset, o.PC-shift, o.Base+shift, o.Offset-shift)
		}
		if o.Semaphore != 0 && (p.Semaphore != o.Semaphore-shift || p.SemaphoreOffset != o.SemaphoreOffset-shift) {
			t.Errorf("%s: semaphore %#x, want %#x", p, p.Semaphore, o.Semaphore-shift)
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
func putLE64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func TestNoProbes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "plain.c")
	if err := os.WriteFile(src, []byte("int main(void){return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed")
	}
	bin := filepath.Join(dir, "plain")
	if b, err := exec.Command("gcc", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	_, err := Open(bin)
	if !errors.Is(err, ErrNoProbes) {
		t.Fatalf("Open(no notes) = %v, want ErrNoProbes", err)
	}
	if !strings.Contains(err.Error(), bin) {
		t.Errorf("error %q does not name the file", err)
	}
	if _, err := Open(src); err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("Open(C source) = %v, want not an ELF file", err)
	}
}

func TestParseArgs(t *testing.T) {
	rbx := Reg{"rbx", 40}
	rbp := Reg{"rbp", 32}
	for _, tc := range []struct {
		machine elf.Machine
		spec    string
		want    []Arg
		err     string
	}{
		{elf.EM_X86_64, "-8@%rbx", []Arg{{Spec: "-8@%rbx", Size: 8, Signed: true, Kind: ArgReg, Base: rbx, HasBase: true}}, ""},
		{elf.EM_X86_64, "8@-16(%rbp)", []Arg{{Spec: "8@-16(%rbp)", Size: 8, Kind: ArgMem, Value: -16, Base: rbp, HasBase: true}}, ""},
		{elf.EM_X86_64, "-4@$42", []Arg{{Spec: "-4@$42", Size: 4, Signed: true, Kind: ArgConst, Value: 42}}, ""},
		{elf.EM_X86_64, "2@$-1", []Arg{{Spec: "2@$-1", Size: 2, Kind: ArgConst, Value: -1}}, ""},
		{elf.EM_X86_64, "4@%eax", []Arg{{Spec: "4@%eax", Size: 4, Kind: ArgReg, Base: Reg{"rax", 80}, HasBase: true}}, ""},
		{elf.EM_X86_64, "1@%sil", []Arg{{Spec: "1@%sil", Size: 1, Kind: ArgReg, Base: Reg{"rsi", 104}, HasBase: true}}, ""},
		{elf.EM_X86_64, "-2@%r10w", []Arg{{Spec: "-2@%r10w", Size: 2, Signed: true, Kind: ArgReg, Base: Reg{"r10", 56}, HasBase: true}}, ""},
		{elf.EM_X86_64, "8@%r15", []Arg{{Spec: "8@%r15", Size: 8, Kind: ArgReg, Base: Reg{"r15", 0}, HasBase: true}}, ""},
		{elf.EM_X86_64, "-4@-24(%rsp,%r8,4)", []Arg{{Spec: "-4@-24(%rsp,%r8,4)", Size: 4, Signed: true, Kind: ArgMem, Value: -24,
			Base: Reg{"rsp", 152}, HasBase: true, Index: Reg{"r8", 72}, Scale: 4}}, ""},
		{elf.EM_X86_64, "8@(%rdx)", []Arg{{Spec: "8@(%rdx)", Size: 8, Kind: ArgMem, Base: Reg{"rdx", 96}, HasBase: true}}, ""},
		{elf.EM_X86_64, "8@0x10(,%rcx,8)", []Arg{{Spec: "8@0x10(,%rcx,8)", Size: 8, Kind: ArgMem, Value: 16, Index: Reg{"rcx", 88}, Scale: 8}}, ""},
		{elf.EM_X86_64, "%rdi", []Arg{{Spec: "%rdi", Size: 8, Kind: ArgReg, Base: Reg{"rdi", 112}, HasBase: true}}, ""},
		{elf.EM_X86_64, "-8@%rbx 8@%rax", []Arg{
			{Spec: "-8@%rbx", Size: 8, Signed: true, Kind: ArgReg, Base: rbx, HasBase: true},
			{Spec: "8@%rax", Size: 8, Kind: ArgReg, Base: Reg{"rax", 80}, HasBase: true},
		}, ""},
		{elf.EM_X86_64, "", nil, ""},
		{elf.EM_X86_64, "8@counter(%rip)", nil, `argument 1 "8@counter(%rip)"`},
		{elf.EM_X86_64, "8@%ah", nil, "unsupported x86-64 register"},
		{elf.EM_X86_64, "3@%rax", nil, "want 1, 2, 4 or 8"},
		{elf.EM_X86_64, "8@%xmm0", nil, "unsupported x86-64 register"},
		{elf.EM_X86_64, "8@-8(%rbp", nil, "missing ')'"},
		{elf.EM_X86_64, "8@(%rax,%rbx,3)", nil, "scale"},
		{elf.EM_AARCH64, "-8@x19", []Arg{{Spec: "-8@x19", Size: 8, Signed: true, Kind: ArgReg, Base: Reg{"x19", 152}, HasBase: true}}, ""},
		{elf.EM_AARCH64, "4@w0", []Arg{{Spec: "4@w0", Size: 4, Kind: ArgReg, Base: Reg{"x0", 0}, HasBase: true}}, ""},
		{elf.EM_AARCH64, "8@[sp, 16] -4@[x29, -4]", []Arg{
			{Spec: "8@[sp, 16]", Size: 8, Kind: ArgMem, Value: 16, Base: Reg{"sp", 248}, HasBase: true},
			{Spec: "-4@[x29, -4]", Size: 4, Signed: true, Kind: ArgMem, Value: -4, Base: Reg{"x29", 232}, HasBase: true},
		}, ""},
		{elf.EM_AARCH64, "8@[x1]", []Arg{{Spec: "8@[x1]", Size: 8, Kind: ArgMem, Base: Reg{"x1", 8}, HasBase: true}}, ""},
		{elf.EM_AARCH64, "-4@5 4@#-2", []Arg{
			{Spec: "-4@5", Size: 4, Signed: true, Kind: ArgConst, Value: 5},
			{Spec: "4@#-2", Size: 4, Kind: ArgConst, Value: -2},
		}, ""},
		{elf.EM_AARCH64, "8@x31", nil, "unsupported arm64 register"},
		{elf.EM_AARCH64, "8@[sp, 16", nil, "missing ']'"},
		{elf.EM_386, "4@%eax", nil, "not supported"},
	} {
		got, err := ParseArgs(tc.machine, tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: err %v, want containing %q", tc.machine, tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tc.machine, tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tc.machine, tc.spec, got, tc.want)
		}
	}
}

// FuzzParseArgs checks that no argument string makes the parser panic and
// that every accepted argument is self-consistent.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"-8@%rbx 8@-16(%rbp)", "-4@$42", "-4@-24(%rsp,%r8,4)", "8@[sp, 16]", "4@w0 -4@5"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, spec string, x86 bool) {
		m := elf.EM_AARCH64
		if x86 {
			m = elf.EM_X86_64
		}
		args, err := ParseArgs(m, spec)
		if err != nil {
			return
		}
		for _, a := range args {
			switch a.Size {
			case 1, 2, 4, 8:
			default:
				t.Fatalf("%q: size %d", spec, a.Size)
			}
			if a.Kind < ArgConst || a.Kind > ArgMem {
				t.Fatalf("%q: kind %v", spec, a.Kind)
			}
			if a.Kind == ArgReg && !a.HasBase {
				t.Fatalf("%q: register argument without register", spec)
			}
		}
	})
}

// sdtInclude returns the directory holding sys/sdt.h (Debian keeps it
// under the multiarch directory, which a cross compiler does not search).
func sdtInclude(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/include/*/sys/sdt.h")
	dirs = append([]string{"/usr/include/sys/sdt.h"}, dirs...)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return filepath.Dir(filepath.Dir(d))
		}
	}
	t.Skip("sys/sdt.h missing (Debian package systemtap-sdt-dev)")
	return ""
}

// TestProbesArm64 cross-compiles testdata/arm64.c for arm64 (clang, lld;
// freestanding, so no arm64 libc is needed) and checks the notes against
// readelf -n: probes, semaphores (symbols, zero shorts at their file
// offsets), a nop at each probe's file offset, and arguments in arm64
// syntax decoded into registers of struct user_pt_regs.
func TestProbesArm64(t *testing.T) {
	for _, tool := range []string{"clang", "ld.lld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages clang, lld): %v", tool, err)
		}
	}
	inc := sdtInclude(t)
	for _, opt := range []string{"-O0", "-O2"} {
		t.Run(opt, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "arm64")
			args := []string{"--target=aarch64-linux-gnu", opt, "-ffreestanding", "-nostdlib", "-static", "-fuse-ld=lld",
				"-isystem", inc, "-o", path, "testdata/arm64.c"}
			if b, err := exec.Command("clang", args...).CombinedOutput(); err != nil {
				t.Fatalf("clang %v: %v\n%s", args, err, b)
			}
			want := readelfNotes(t, path)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != elf.EM_AARCH64 {
				t.Fatalf("machine %v, want aarch64", f.Machine)
			}
			if len(f.Probes) != 3 || len(want) != 3 {
				t.Fatalf("got %d probes, readelf %d (want 3)", len(f.Probes), len(want))
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			nop := []byte{0x1f, 0x20, 0x03, 0xd5} // hint #0, little-endian
			for i, p := range f.Probes {
				if got := (readelfProbe{p.Provider, p.Name, p.PC, p.Base, p.Semaphore, p.ArgSpec}); got != want[i] {
					t.Errorf("probe %d: got %+v, readelf %+v", i, got, want[i])
				}
				if p.ArgsErr != nil || len(p.Args) != len(strings.Fields(p.ArgSpec)) {
					t.Errorf("%s: args %q: %d parsed, %v", p, p.ArgSpec, len(p.Args), p.ArgsErr)
				}
				if !bytes.Equal(raw[p.Offset:p.Offset+4], nop) {
					t.Errorf("%s: bytes at file offset %#x are % x, want a nop", p, p.Offset, raw[p.Offset:p.Offset+4])
				}
				if sym := symbol(t, path, "test_"+p.Name+"_semaphore"); sym != p.Semaphore || p.SemaphoreOffset == 0 ||
					raw[p.SemaphoreOffset] != 0 || raw[p.SemaphoreOffset+1] != 0 {
					t.Errorf("%s: semaphore %#x (file offset %#x), symbol at %#x", p, p.Semaphore, p.SemaphoreOffset, sym)
				}
				for _, a := range p.Args {
					switch a.Kind {
					case ArgConst:
					case ArgReg, ArgMem:
						n, err := strconv.Atoi(strings.TrimPrefix(a.Base.Name, "x"))
						if !a.HasBase || (a.Base.Name != "sp" && (err != nil || int(a.Base.Offset) != 8*n)) {
							t.Errorf("%s: %q: base %+v is not an arm64 pt_regs register", p, a.Spec, a.Base)
						}
					default:
						t.Errorf("%s: %q: kind %v", p, a.Spec, a.Kind)
					}
				}
			}
			c := f.Find("test", "constants")
			if len(c) != 1 || len(c[0].Args) != 2 || c[0].Args[0].Kind != ArgConst || c[0].Args[0].Value != 42 || c[0].Args[1].Value != -7 ||
				!c[0].Args[1].Signed || c[0].Args[1].Size != 4 {
				t.Errorf("constants probe: %+v", c)
			}
		})
	}
}
