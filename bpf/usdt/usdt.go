// Package usdt finds SystemTap/USDT probes in an ELF file: it reads the
// .note.stapsdt notes (provider, name, probe address, semaphore, argument
// specs), corrects the addresses for a relocated .stapsdt.base section,
// maps them to the file offsets that uprobes and reference counters
// (semaphores) are attached by, and parses the argument specs into a form a
// BPF program can evaluate: register, constant or memory operand with a
// width and signedness.
//
// Supported argument operands: x86-64 (AT&T) registers of every width,
// immediates ($N), memory operands disp(%base) and disp(%base,%index,scale);
// arm64 registers (xN, wN, sp), immediates (N or #N) and memory operands
// [reg], [reg, N]. Operands that need symbol resolution (sym(%rip)) are
// reported as errors on the probe that uses them.
package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNoProbes means the file has no .note.stapsdt section: the program was
// built without USDT support.
var ErrNoProbes = errors.New("no USDT probes (.note.stapsdt section missing)")

// Probe is one probe site. A probe name can have several sites (for example
// when the function holding it is inlined); each has its own Probe.
type Probe struct {
	Provider string
	Name     string
	// PC is the virtual address of the probe's nop instruction, corrected
	// for the position of .stapsdt.base.
	PC uint64
	// Base is the .stapsdt.base address recorded in the note.
	Base uint64
	// Semaphore is the virtual address of the probe's semaphore (an
	// unsigned short that is non-zero while a tracer is attached), or 0.
	Semaphore uint64
	// ArgSpec is the argument string exactly as in the note.
	ArgSpec string
	// Args are the parsed arguments. ArgsErr is set instead when ArgSpec
	// has an operand this package cannot evaluate.
	Args    []Arg
	ArgsErr error
	// Offset is PC's file offset: the uprobe offset.
	Offset uint64
	// SemaphoreOffset is Semaphore's file offset (the uprobe reference
	// counter offset), 0 without a semaphore.
	SemaphoreOffset uint64
}

// String names the probe as provider:name.
func (p Probe) String() string { return p.Provider + ":" + p.Name }

// File holds the probes of one ELF file.
type File struct {
	Path    string
	Machine elf.Machine
	Probes  []Probe
}

// Open reads the probes of the ELF file at path. It returns an error
// wrapping ErrNoProbes when the file has no USDT notes.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF file: %w", path, err)
	}
	defer ef.Close()
	probes, err := Probes(ef)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Path: path, Machine: ef.Machine, Probes: probes}, nil
}

// Find returns the sites of provider:name, in note order.
func (f *File) Find(provider, name string) []Probe {
	var out []Probe
	for _, p := range f.Probes {
		if p.Provider == provider && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

const (
	noteOwner = "stapsdt"
	noteType  = 3
)

// Probes reads the USDT probes of an open ELF file.
func Probes(ef *elf.File) ([]Probe, error) {
	sec := ef.Section(".note.stapsdt")
	if sec == nil {
		return nil, ErrNoProbes
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .note.stapsdt: %w", err)
	}
	var baseAddr uint64
	haveBase := false
	if b := ef.Section(".stapsdt.base"); b != nil {
		baseAddr, haveBase = b.Addr, true
	}
	word := 8
	if ef.Class == elf.ELFCLASS32 {
		word = 4
	}
	bo := ef.ByteOrder
	var probes []Probe
	for off := 0; off < len(data); {
		if len(data)-off < 12 {
			return nil, fmt.Errorf(".note.stapsdt at %d: truncated note header", off)
		}
		namesz := int(bo.Uint32(data[off:]))
		descsz := int(bo.Uint32(data[off+4:]))
		typ := bo.Uint32(data[off+8:])
		p := off + 12
		nameEnd := p + namesz
		descStart := p + align4(namesz)
		descEnd := descStart + descsz
		if namesz < 0 || descsz < 0 || nameEnd > len(data) || descEnd > len(data) {
			return nil, fmt.Errorf(".note.stapsdt at %d: note size %d+%d runs past the section (%d bytes)", off, namesz, descsz, len(data))
		}
		name := string(bytes.TrimRight(data[p:nameEnd], "\x00"))
		desc := data[descStart:descEnd]
		next := descStart + align4(descsz)
		if name != noteOwner || typ != noteType {
			off = next
			continue
		}
		pr, err := parseDesc(desc, word, bo)
		if err != nil {
			return nil, fmt.Errorf(".note.stapsdt at %d: %w", off, err)
		}
		if haveBase && pr.Base != 0 {
			// Prelinked or otherwise relocated: shift by how far the
			// section moved from where the note says it was.
			delta := baseAddr - pr.Base
			pr.PC += delta
			if pr.Semaphore != 0 {
				pr.Semaphore += delta
			}
		}
		pr.Args, pr.ArgsErr = ParseArgs(ef.Machine, pr.ArgSpec)
		if pr.Offset, err = fileOffset(ef, pr.PC, false); err != nil {
			return nil, fmt.Errorf("probe %s: pc %#x: %w", pr, pr.PC, err)
		}
		if pr.Semaphore != 0 {
			if pr.SemaphoreOffset, err = fileOffset(ef, pr.Semaphore, true); err != nil {
				return nil, fmt.Errorf("probe %s: semaphore %#x: %w", pr, pr.Semaphore, err)
			}
		}
		probes = append(probes, pr)
		off = next
	}
	return probes, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

func parseDesc(desc []byte, word int, bo binary.ByteOrder) (Probe, error) {
	var pr Probe
	if len(desc) < 3*word {
		return pr, fmt.Errorf("descriptor of %d bytes is shorter than three addresses", len(desc))
	}
	addr := func(i int) uint64 {
		if word == 4 {
			return uint64(bo.Uint32(desc[i*4:]))
		}
		return bo.Uint64(desc[i*8:])
	}
	pr.PC, pr.Base, pr.Semaphore = addr(0), addr(1), addr(2)
	strs := desc[3*word:]
	var fields [3]string
	for i := range fields {
		end := bytes.IndexByte(strs, 0)
		if end < 0 {
			return pr, fmt.Errorf("descriptor string %d is not NUL-terminated", i+1)
		}
		fields[i] = string(strs[:end])
		strs = strs[end+1:]
	}
	pr.Provider, pr.Name, pr.ArgSpec = fields[0], fields[1], fields[2]
	if pr.Provider == "" || pr.Name == "" {
		return pr, fmt.Errorf("probe with empty provider or name")
	}
	return pr, nil
}

// fileOffset maps a virtual address to its offset in the file through the
// PT_LOAD segment that contains it. Data (a semaphore) must be backed by
// the file, not zero-fill.
func fileOffset(ef *elf.File, vaddr uint64, inFile bool) (uint64, error) {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		size := p.Memsz
		if inFile {
			size = p.Filesz
		}
		if vaddr >= p.Vaddr && vaddr < p.Vaddr+size {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address is in no loadable segment")
}

// ArgKind says where an argument's value comes from.
type ArgKind uint8

// The argument kinds.
const (
	ArgConst ArgKind = iota + 1 // Value is the argument
	ArgReg                      // the argument is in register Base
	ArgMem                      // the argument is in memory at Base + Index*Scale + Value
)

// String names the kind: const, reg or mem.
func (k ArgKind) String() string {
	switch k {
	case ArgConst:
		return "const"
	case ArgReg:
		return "reg"
	case ArgMem:
		return "mem"
	}
	return fmt.Sprintf("ArgKind(%d)", uint8(k))
}

// Reg is a machine register as a BPF program reads it: its name and its
// byte offset in the kernel's struct pt_regs for the architecture.
type Reg struct {
	Name   string
	Offset uint16
}

// Arg is one parsed argument spec.
type Arg struct {
	// Spec is the original text, for example "-8@%rbx".
	Spec string
	// Size is the argument's width in bytes (1, 2, 4 or 8) and Signed
	// whether it is sign-extended to 64 bits.
	Size   int
	Signed bool
	Kind   ArgKind
	// Value is the constant (ArgConst) or the displacement (ArgMem).
	Value int64
	// Base is the register (ArgReg) or the base register of a memory
	// operand; HasBase is false for an absolute address.
	Base    Reg
	HasBase bool
	// Index and Scale describe an indexed memory operand; Scale is 0
	// without an index register.
	Index Reg
	Scale uint8
}

// ParseArgs parses a probe's space-separated argument specs for machine.
func ParseArgs(machine elf.Machine, spec string) ([]Arg, error) {
	var parse func(string) (Arg, error)
	switch machine {
	case elf.EM_X86_64:
		parse = parseX86
	case elf.EM_AARCH64:
		parse = parseARM64
	default:
		return nil, fmt.Errorf("USDT arguments on %s are not supported (x86-64 and arm64 are)", machine)
	}
	var args []Arg
	for _, f := range splitArgs(spec) {
		a, err := parseSized(f, parse)
		if err != nil {
			return nil, fmt.Errorf("argument %d %q: %w", len(args)+1, f, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// splitArgs splits on spaces outside brackets (arm64 writes "[sp, 8]").
func splitArgs(spec string) []string {
	var out []string
	depth, start := 0, -1
	for i, c := range spec {
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == ' ' && depth == 0:
			if start >= 0 {
				out = append(out, spec[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, spec[start:])
	}
	return out
}

// parseSized splits "SIZE@OPERAND"; a spec without "@" (version 1 notes)
// is an 8-byte unsigned value.
func parseSized(f string, operand func(string) (Arg, error)) (Arg, error) {
	size, signed, op := 8, false, f
	if at := strings.IndexByte(f, '@'); at >= 0 {
		s := f[:at]
		op = f[at+1:]
		if strings.HasPrefix(s, "-") {
			signed, s = true, s[1:]
		}
		switch s {
		case "1":
			size = 1
		case "2":
			size = 2
		case "4":
			size = 4
		case "8":
			size = 8
		default:
			return Arg{}, fmt.Errorf("size %q: want 1, 2, 4 or 8 bytes, optionally negative", f[:at])
		}
	}
	a, err := operand(op)
	if err != nil {
		return Arg{}, err
	}
	a.Spec, a.Size, a.Signed = f, size, signed
	return a, nil
}
