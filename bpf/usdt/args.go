package usdt

import (
	"fmt"
	"strconv"
	"strings"
)

// x86-64 struct pt_regs byte offsets, keyed by the 64-bit register name.
var x86Regs = map[string]uint16{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40,
	"r11": 48, "r10": 56, "r9": 64, "r8": 72, "rax": 80, "rcx": 88,
	"rdx": 96, "rsi": 104, "rdi": 112, "rip": 128, "rsp": 152,
}

// x86Aliases maps the 32-, 16- and 8-bit (low byte) names to their 64-bit
// register. The high-byte registers (%ah ...) are deliberately absent: their
// value is not the low bits of the register.
var x86Aliases = func() map[string]string {
	m := map[string]string{}
	for _, r := range []struct{ q, d, w, b string }{
		{"rax", "eax", "ax", "al"}, {"rbx", "ebx", "bx", "bl"},
		{"rcx", "ecx", "cx", "cl"}, {"rdx", "edx", "dx", "dl"},
		{"rsi", "esi", "si", "sil"}, {"rdi", "edi", "di", "dil"},
		{"rbp", "ebp", "bp", "bpl"}, {"rsp", "esp", "sp", "spl"},
	} {
		m[r.q], m[r.d], m[r.w], m[r.b] = r.q, r.q, r.q, r.q
	}
	for i := 8; i <= 15; i++ {
		q := "r" + strconv.Itoa(i)
		m[q], m[q+"d"], m[q+"w"], m[q+"b"] = q, q, q, q
	}
	return m
}()

func x86Reg(name string) (Reg, error) {
	n := strings.TrimPrefix(name, "%")
	if n == name {
		return Reg{}, fmt.Errorf("register %q: want %%name", name)
	}
	q, ok := x86Aliases[n]
	if !ok {
		if n == "rip" {
			return Reg{}, fmt.Errorf("%%rip-relative operands need symbol resolution and are not supported")
		}
		return Reg{}, fmt.Errorf("unknown or unsupported x86-64 register %q", name)
	}
	return Reg{Name: q, Offset: x86Regs[q]}, nil
}

// parseX86 parses an AT&T operand: %reg, $imm, disp(%base), (%base),
// disp(%base,%index,scale), disp(,%index,scale) or a bare absolute address.
func parseX86(op string) (Arg, error) {
	switch {
	case op == "":
		return Arg{}, fmt.Errorf("empty operand")
	case op[0] == '%':
		r, err := x86Reg(op)
		if err != nil {
			return Arg{}, err
		}
		return Arg{Kind: ArgReg, Base: r, HasBase: true}, nil
	case op[0] == '$':
		v, err := parseInt(op[1:])
		if err != nil {
			return Arg{}, fmt.Errorf("immediate %q: %w", op, err)
		}
		return Arg{Kind: ArgConst, Value: v}, nil
	}
	a := Arg{Kind: ArgMem}
	open := strings.IndexByte(op, '(')
	disp := op
	if open >= 0 {
		if !strings.HasSuffix(op, ")") {
			return Arg{}, fmt.Errorf("memory operand %q: missing ')'", op)
		}
		disp = op[:open]
		parts := strings.Split(op[open+1:len(op)-1], ",")
		if len(parts) != 1 && len(parts) != 3 {
			return Arg{}, fmt.Errorf("memory operand %q: want (base) or (base,index,scale)", op)
		}
		if b := strings.TrimSpace(parts[0]); b != "" {
			r, err := x86Reg(b)
			if err != nil {
				return Arg{}, fmt.Errorf("memory operand %q: %w", op, err)
			}
			a.Base, a.HasBase = r, true
		}
		if len(parts) == 3 {
			r, err := x86Reg(strings.TrimSpace(parts[1]))
			if err != nil {
				return Arg{}, fmt.Errorf("memory operand %q: index: %w", op, err)
			}
			sc, err := parseScale(strings.TrimSpace(parts[2]))
			if err != nil {
				return Arg{}, fmt.Errorf("memory operand %q: %w", op, err)
			}
			a.Index, a.Scale = r, sc
		}
	}
	if disp != "" {
		v, err := parseInt(disp)
		if err != nil {
			return Arg{}, fmt.Errorf("memory operand %q: displacement %q is not a number (symbolic operands are not supported)", op, disp)
		}
		a.Value = v
	}
	if !a.HasBase && a.Scale == 0 && disp == "" {
		return Arg{}, fmt.Errorf("memory operand %q has no address", op)
	}
	return a, nil
}

func parseScale(s string) (uint8, error) {
	switch s {
	case "1", "2", "4", "8":
		return uint8(s[0] - '0'), nil
	case "":
		return 1, nil
	}
	return 0, fmt.Errorf("scale %q: want 1, 2, 4 or 8", s)
}

// arm64 struct user_pt_regs: x0..x30, then sp, pc, pstate.
func arm64Reg(name string) (Reg, error) {
	n := strings.TrimSpace(name)
	if n == "sp" || n == "wsp" {
		return Reg{Name: "sp", Offset: 31 * 8}, nil
	}
	if len(n) >= 2 && (n[0] == 'x' || n[0] == 'w') {
		if i, err := strconv.Atoi(n[1:]); err == nil && i >= 0 && i <= 30 {
			return Reg{Name: "x" + n[1:], Offset: uint16(i * 8)}, nil
		}
	}
	return Reg{}, fmt.Errorf("unknown or unsupported arm64 register %q", name)
}

// parseARM64 parses xN, wN, sp, an immediate (N or #N) or a memory operand
// [reg] / [reg, N] / [reg, #N].
func parseARM64(op string) (Arg, error) {
	if op == "" {
		return Arg{}, fmt.Errorf("empty operand")
	}
	if op[0] == '[' {
		if !strings.HasSuffix(op, "]") {
			return Arg{}, fmt.Errorf("memory operand %q: missing ']'", op)
		}
		parts := strings.Split(op[1:len(op)-1], ",")
		if len(parts) > 2 {
			return Arg{}, fmt.Errorf("memory operand %q: want [reg] or [reg, offset]", op)
		}
		r, err := arm64Reg(parts[0])
		if err != nil {
			return Arg{}, fmt.Errorf("memory operand %q: %w", op, err)
		}
		a := Arg{Kind: ArgMem, Base: r, HasBase: true}
		if len(parts) == 2 {
			v, err := parseInt(strings.TrimPrefix(strings.TrimSpace(parts[1]), "#"))
			if err != nil {
				return Arg{}, fmt.Errorf("memory operand %q: offset: %w", op, err)
			}
			a.Value = v
		}
		return a, nil
	}
	if v, err := parseInt(strings.TrimPrefix(op, "#")); err == nil {
		return Arg{Kind: ArgConst, Value: v}, nil
	}
	r, err := arm64Reg(op)
	if err != nil {
		return Arg{}, err
	}
	return Arg{Kind: ArgReg, Base: r, HasBase: true}, nil
}

// parseInt accepts decimal and 0x-hex, with an optional sign.
func parseInt(s string) (int64, error) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	u, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, err
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}
