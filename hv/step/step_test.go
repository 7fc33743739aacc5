package step

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// Every instruction that copies or loads RFLAGS is told apart from the
// rest, in every mode and operand size.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name   string
		code   []byte
		mode   int
		rflags uint64
		kind   Kind
		vector uint8
		len    int
	}{
		{"pushfq", []byte{0x9C}, 64, 0, PushFlags, 0, 1},
		{"pushfd", []byte{0x9C}, 32, 0, PushFlags, 0, 1},
		{"pushf", []byte{0x9C}, 16, 0, PushFlags, 0, 1},
		{"pushf with 66", []byte{0x66, 0x9C}, 64, 0, PushFlags, 0, 2},
		{"popfq", []byte{0x9D}, 64, 0, LoadsFlags, 0, 1},
		{"popfd", []byte{0x9D}, 32, 0, LoadsFlags, 0, 1},
		{"iretq", []byte{0x48, 0xCF}, 64, 0, LoadsFlags, 0, 2},
		{"iretd", []byte{0xCF}, 32, 0, LoadsFlags, 0, 1},
		{"iret 16", []byte{0xCF}, 16, 0, LoadsFlags, 0, 1},
		{"sysret", []byte{0x0F, 0x07}, 64, 0, LoadsFlags, 0, 2},
		{"sysret outside 64-bit mode is invalid", []byte{0x0F, 0x07}, 32, 0, Unknown, 0, 0},
		{"rex before another prefix is ignored", []byte{0x48, 0x66, 0xCC}, 64, 0, SoftInt, VectorBP, 3},
		{"sysretq", []byte{0x48, 0x0F, 0x07}, 64, 0, LoadsFlags, 0, 3},
		{"syscall", []byte{0x0F, 0x05}, 64, 0, Syscall, 0, 2},
		{"int 0x80", []byte{0xCD, 0x80}, 32, 0, SoftInt, 0x80, 2},
		{"int 0x21 real", []byte{0xCD, 0x21}, 16, 0, SoftInt, 0x21, 2},
		{"int3", []byte{0xCC}, 64, 0, SoftInt, VectorBP, 1},
		{"int 3 long form", []byte{0xCD, 0x03}, 64, 0, SoftInt, VectorBP, 2},
		{"into OF=1", []byte{0xCE}, 32, RFLAGSOF, SoftInt, VectorOF, 1},
		{"into OF=0", []byte{0xCE}, 32, 0, Plain, 0, 1},
		{"nop", []byte{0x90}, 64, 0, Plain, 0, 0},
		{"mov", []byte{0x48, 0x89, 0xD8}, 64, 0, Plain, 0, 0},
		{"rep movsb", []byte{0xF3, 0xA4}, 64, 0, Plain, 0, 0},
		{"call", []byte{0xE8, 0, 0, 0, 0}, 64, 0, Plain, 0, 0},
		{"ud2", []byte{0x0F, 0x0B}, 64, 0, Plain, 0, 0},
		{"lahf (flags bits 0-7 only)", []byte{0x9F}, 32, 0, Plain, 0, 0},
		{"rex.w pushfq is still pushf", []byte{0x48, 0x9C}, 64, 0, PushFlags, 0, 2},
		{"in 32-bit code 0x48 is DEC, not REX", []byte{0x48, 0x9C}, 32, 0, Plain, 0, 0},
		{"cut short", []byte{0x0F}, 64, 0, Unknown, 0, 0},
		{"prefixes only", []byte{0x66, 0xF3}, 64, 0, Unknown, 0, 0},
		{"int cut short", []byte{0xCD}, 64, 0, Unknown, 0, 0},
		{"empty", nil, 64, 0, Unknown, 0, 0},
		{"into in 64-bit mode is invalid", []byte{0xCE}, 64, RFLAGSOF, Unknown, 0, 0},
		{"lock pushf is invalid", []byte{0xF0, 0x9C}, 64, 0, Unknown, 0, 0},
		{"lock int 0x80 is invalid", []byte{0xF0, 0xCD, 0x80}, 32, 0, Unknown, 0, 0},
		{"prefixed int", []byte{0x66, 0x2E, 0xCD, 0x40}, 32, 0, SoftInt, 0x40, 4},
	} {
		in := Classify(c.code, c.mode, c.rflags)
		if in.Kind != c.kind || in.Vector != c.vector || in.Len != c.len {
			t.Errorf("%s: %v vector %#x len %d, want %v %#x %d", c.name, in.Kind, in.Vector, in.Len, c.kind, c.vector, c.len)
		}
	}
}

// How each step is armed: events are delivered under a handler
// breakpoint, never with TF.
func TestPlanStep(t *testing.T) {
	plain := Insn{Kind: Plain, Len: 1}
	for _, c := range []struct {
		name string
		s    State
		want Plan
	}{
		{"plain", State{Insn: plain}, Plan{TrapFlag: true}},
		{"pushf", State{Insn: Insn{Kind: PushFlags}}, Plan{TrapFlag: true}},
		{"syscall", State{Insn: Insn{Kind: Syscall}}, Plan{TrapFlag: true}},
		{"popf", State{Insn: Insn{Kind: LoadsFlags}}, Plan{TrapFlag: true}},
		{"unknown", State{Insn: Insn{Kind: Unknown}}, Plan{TrapFlag: true}},
		{"int 0x80", State{Insn: Insn{Kind: SoftInt, Vector: 0x80}}, Plan{Deliver: true, Vector: 0x80}},
		{"int3", State{Insn: Insn{Kind: SoftInt, Vector: 3}}, Plan{Deliver: true, Vector: 3}},
		{"injection first", State{Insn: Insn{Kind: SoftInt, Vector: 0x80}, Injecting: true, Injected: 0x20}, Plan{Deliver: true, Vector: 0x20}},
		{"injection over a plain instruction", State{Insn: plain, Injecting: true, Injected: 0x21}, Plan{Deliver: true, Vector: 0x21}},
		{"faulted", State{Insn: plain, Faulted: true, Fault: 14}, Plan{Deliver: true, Vector: 14}},
		{"injection before a repeated fault", State{Insn: plain, Faulted: true, Fault: 14, Injecting: true, Injected: 0x20}, Plan{Deliver: true, Vector: 0x20}},
		{"guest TF", State{Insn: plain, GuestTF: true}, Plan{TrapFlag: true}},
		{"guest TF, int", State{Insn: Insn{Kind: SoftInt, Vector: 0x30}, GuestTF: true}, Plan{Deliver: true, Vector: 0x30}},
	} {
		if got := PlanStep(c.s); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// The repairs after a TF step, for every kind and outcome.
func TestAfter(t *testing.T) {
	kinds := []Kind{Plain, PushFlags, Syscall, LoadsFlags, SoftInt, Unknown}
	for _, k := range kinds {
		for _, o := range []Outcome{Completed, Faulted, Elsewhere} {
			for _, guestTF := range []bool{false, true} {
				got := After(Insn{Kind: k}, o, guestTF)
				var want Fix
				switch {
				case guestTF:
				case o != Completed:
					want = Fix{ClearTF: true}
				case k == LoadsFlags:
				case k == PushFlags:
					want = Fix{ClearTF: true, ClearImageTF: true}
				case k == Syscall:
					want = Fix{ClearTF: true, ClearR11: true}
				default:
					want = Fix{ClearTF: true}
				}
				if got != want {
					t.Errorf("%v %v guestTF=%v: %+v, want %+v", k, o, guestTF, got, want)
				}
			}
		}
	}
	// The cases that matter most, stated plainly.
	if f := After(Insn{Kind: PushFlags}, Completed, false); !f.ClearImageTF || !f.ClearTF {
		t.Error("PUSHF: the pushed image must lose TF")
	}
	if f := After(Insn{Kind: LoadsFlags}, Completed, false); f.ClearTF {
		t.Error("POPF: TF afterwards is the guest's")
	}
	if f := After(Insn{Kind: LoadsFlags}, Faulted, false); !f.ClearTF {
		t.Error("a POPF that faulted did not load RFLAGS: TF is still ours")
	}
}

// fakeMem is guest memory at linear addresses.
type fakeMem map[uint64]byte

func (m fakeMem) read(addr uint64, dst []byte) int {
	for i := range dst {
		b, ok := m[addr+uint64(i)]
		if !ok {
			return i
		}
		dst[i] = b
	}
	return len(dst)
}

func (m fakeMem) put(addr uint64, b []byte) {
	for i, x := range b {
		m[addr+uint64(i)] = x
	}
}

func gate64(off uint64, sel uint16, access byte) []byte {
	g := make([]byte, 16)
	binary.LittleEndian.PutUint16(g[0:], uint16(off))
	binary.LittleEndian.PutUint16(g[2:], sel)
	g[5] = access
	binary.LittleEndian.PutUint16(g[6:], uint16(off>>16))
	binary.LittleEndian.PutUint32(g[8:], uint32(off>>32))
	return g
}

func gate32(off uint32, sel uint16, access byte) []byte {
	g := make([]byte, 8)
	binary.LittleEndian.PutUint16(g[0:], uint16(off))
	binary.LittleEndian.PutUint16(g[2:], sel)
	g[5] = access
	binary.LittleEndian.PutUint16(g[6:], uint16(off>>16))
	return g
}

func descriptor(base uint32) []byte {
	d := make([]byte, 8)
	d[0], d[1] = 0xFF, 0xFF
	d[2], d[3], d[4], d[7] = byte(base), byte(base>>8), byte(base>>16), byte(base>>24)
	d[5], d[6] = 0x9A, 0xCF
	return d
}

func TestHandlerAddress(t *testing.T) {
	m := fakeMem{}
	idt64 := Table{Base: 0x10000, Limit: 16*256 - 1}
	m.put(0x10000+16*0x20, gate64(0xFFFFFFFF81234567, 0x10, 0x8E))
	m.put(0x10000+16*3, gate64(0x401000, 0x10, 0xEF)) // DPL 3 trap gate
	m.put(0x10000+16*6, gate64(0x401000, 0x10, 0x0E)) // not present
	m.put(0x10000+16*7, gate64(0x401000, 0x10, 0x8C)) // a call gate type
	gdt := Table{Base: 0x20000, Limit: 0x27}
	m.put(0x20000+0x08, descriptor(0))
	m.put(0x20000+0x18, descriptor(0x100000))
	idt32 := Table{Base: 0x30000, Limit: 8*0x81 - 1}
	m.put(0x30000+8*0x80, gate32(0x1234, 0x08, 0x8F))
	m.put(0x30000+8*0x21, gate32(0x0010, 0x18, 0x8E)) // segment base 1 MiB
	m.put(0x30000+8*0x22, gate32(0x0010, 0x28, 0x8E)) // selector past the GDT
	m.put(0x30000+8*0x23, gate32(0x0010, 0x0C, 0x8E)) // an LDT selector
	m.put(0x30000+8*0x24, gate32(0xABCD1234, 0x08, 0x86))
	m.put(0x30000+8*0x25, gate32(0, 0x08, 0x85)) // task gate
	ivt := Table{Base: 0, Limit: 0x3FF}
	m.put(4*0x10, []byte{0x34, 0x12, 0x00, 0xF0})
	for _, c := range []struct {
		name   string
		mode   Mode
		idt    Table
		vector uint8
		want   uint64
		err    string
	}{
		{"long, interrupt gate", Long, idt64, 0x20, 0xFFFFFFFF81234567, ""},
		{"long, trap gate", Long, idt64, 3, 0x401000, ""},
		{"long, not present", Long, idt64, 6, 0, "not present"},
		{"long, wrong type", Long, idt64, 7, 0, "type 0xc"},
		{"long, unreadable", Long, idt64, 0x21, 0, "not readable"},
		{"long, past the limit", Long, Table{Base: 0x10000, Limit: 16*0x20 + 14}, 0x20, 0, "past the IDT's limit"},
		{"protected, 32-bit trap gate", Protected, idt32, 0x80, 0x1234, ""},
		{"protected, segment base", Protected, idt32, 0x21, 0x100010, ""},
		{"protected, 16-bit gate takes 16 bits of offset", Protected, idt32, 0x24, 0x1234, ""},
		{"protected, selector past the GDT", Protected, idt32, 0x22, 0, "outside the GDT"},
		{"protected, LDT selector", Protected, idt32, 0x23, 0, "in the LDT"},
		{"protected, task gate", Protected, idt32, 0x25, 0, "task gate"},
		{"protected, past the limit", Protected, idt32, 0x81, 0, "past the IDT's limit"},
		{"real", Real, ivt, 0x10, 0xF1234, ""},
		{"real, past the limit", Real, Table{Limit: 0x3F}, 0x10, 0, "past the IVT's limit"},
	} {
		got, err := HandlerAddress(m.read, c.mode, c.idt, gdt, c.vector)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %#x, %v; want %#x", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %#x, %v; want an error with %q", c.name, got, err, c.err)
		}
	}
}

func TestDebugRegisters(t *testing.T) {
	if got := EnabledSlots(0x400 | 1<<0 | 1<<5); got != 0b0101 {
		t.Errorf("EnabledSlots %#b", got)
	}
	if got := FreeSlot(1<<0|1<<5, 0); got != 1 { // slots 0 (L0) and 2 (G2) enabled
		t.Errorf("FreeSlot %d", got)
	}
	if got := FreeSlot(1<<0, 0b0110); got != 3 {
		t.Errorf("FreeSlot with taken %d", got)
	}
	if got := FreeSlot(0xFF, 0); got != -1 {
		t.Errorf("FreeSlot when full %d", got)
	}
	dr7 := uint64(0x400 | 1<<1 | 0xF<<16) // slot 0 global, condition bits
	w := WithSlot(dr7, 2, Write, 4)
	if w&(3<<4) != 1<<4 || w>>24&0xF != 0b1101 || w&0xF0003 != dr7&0xF0003 {
		t.Errorf("WithSlot write 4: %#x", w)
	}
	if got := WithSlot(0, 3, ReadWrite, 8) >> 28; got != 0b1011 {
		t.Errorf("WithSlot access 8: LEN/RW %#b", got)
	}
	if got := WithSlot(0, 1, Exec, 8) >> 20 & 0xF; got != 0 {
		t.Errorf("WithSlot exec: LEN/RW %#b, want 0", got)
	}
	if got := RestoreSlot(w|1<<9, dr7, 2); got != dr7|1<<9 {
		t.Errorf("RestoreSlot %#x, want %#x", got, dr7|1<<9)
	}
	for _, c := range []struct {
		a     Access
		addr  uint64
		n     uint64
		valid bool
	}{
		{Exec, 0x1001, 1, true}, {Write, 0x1000, 8, true}, {Write, 0x1004, 8, false},
		{ReadWrite, 0x1002, 2, true}, {ReadWrite, 0x1001, 2, false}, {Write, 0x1000, 3, false}, {Write, 0x1000, 16, false},
	} {
		if err := CheckRange(c.a, c.addr, c.n); (err == nil) != c.valid {
			t.Errorf("CheckRange(%d, %#x, %d): %v", c.a, c.addr, c.n, err)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		name         string
		qual         uint64
		mine         uint8
		stepped      bool
		guestDR7     uint64
		guestTF      bool
		ours, guests uint64
	}{
		{"our breakpoint", 1 << 2, 1 << 2, false, 0, false, 1 << 2, 0},
		{"our step", DR6BS, 0, true, 0, false, DR6BS, 0},
		{"guest breakpoint", 1 << 0, 1 << 2, false, 1 << 1, false, 0, 1 << 0},
		{"both at once", 1<<0 | 1<<2, 1 << 2, false, 1 << 0, false, 1 << 2, 1 << 0},
		{"the guest's own TF ends our step too", DR6BS, 0, true, 0, true, DR6BS, DR6BS},
		{"the guest's TF while we do not step", DR6BS, 1, false, 0, true, 0, DR6BS},
		{"a stale condition of a disabled slot", 1 << 3, 1 << 2, false, 0, false, 0, 0},
		{"a debug-register access", DR6BD, 0, true, 1 << 7, false, 0, DR6BD},
	} {
		ours, guests := Split(c.qual, c.mine, c.stepped, c.guestDR7, c.guestTF)
		if ours != c.ours || guests != c.guests {
			t.Errorf("%s: ours %#x guests %#x, want %#x %#x", c.name, ours, guests, c.ours, c.guests)
		}
	}
}

// Classify (prefixes and opcode only, allocation-free) agrees with a full
// decode by x86asm wherever it matters: it never calls Plain or Unknown
// what the decoder calls one of the instructions it tells apart, and never
// calls one of those what the decoder calls anything else. (Where it says
// Unknown, the step is a TF step, as for Plain.)
func TestClassifyAgreesWithDecoder(t *testing.T) {
	seed := uint64(0x9E3779B97F4A7C15)
	next := func() byte { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return byte(seed) }
	interesting := []byte{0x9C, 0x9D, 0xCC, 0xCD, 0xCE, 0xCF, 0x0F, 0x05, 0x07, 0x48, 0x66, 0xF3, 0xF0, 0x2E}
	for i := 0; i < 300000; i++ {
		code := make([]byte, 1+i%6)
		for j := range code {
			if next()&1 == 0 {
				code[j] = interesting[int(next())%len(interesting)]
			} else {
				code[j] = next()
			}
		}
		for _, mode := range []int{16, 32, 64} {
			for _, rflags := range []uint64{0, RFLAGSOF} {
				got, want := Classify(code, mode, rflags), decodeClassify(code, mode, rflags)
				if mode == 64 && want.Kind == Unknown {
					// x86asm refuses a REX prefix that does not come right
					// before the opcode; the processor ignores it.
					if n := dropIgnoredREX(code); len(n) != len(code) {
						want = decodeClassify(n, mode, rflags)
						want.Len += len(code) - len(n)
					}
				}
				special := func(k Kind) bool { return k != Plain && k != Unknown }
				switch {
				case special(want.Kind) && (got.Kind != want.Kind || got.Vector != want.Vector || got.Len != want.Len):
					if got.Kind == Unknown && code[0] == 0xF0 || bytesHave(code[:want.Len], 0xF0) {
						continue // LOCK: #UD on the processor, which the decoder does not model
					}
					t.Errorf("% x in %d-bit mode: Classify says %v %#x len %d, x86asm %v %#x len %d", code, mode, got.Kind, got.Vector, got.Len, want.Kind, want.Vector, want.Len)
				case special(got.Kind) && !special(want.Kind):
					t.Errorf("% x in %d-bit mode: Classify says %v %#x, x86asm %v", code, mode, got.Kind, got.Vector, want.Kind)
				}
			}
		}
	}
}

// dropIgnoredREX removes the REX prefixes (64-bit mode) that another
// prefix follows.
func dropIgnoredREX(code []byte) []byte {
	var out []byte
	for i, b := range code {
		isPrefix := func(b byte) bool {
			return b&0xF0 == 0x40 || bytesHave([]byte{0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65}, b)
		}
		if !isPrefix(b) {
			return append(out, code[i:]...)
		}
		if b&0xF0 == 0x40 && i+1 < len(code) && isPrefix(code[i+1]) {
			continue
		}
		out = append(out, b)
	}
	return out
}

func bytesHave(b []byte, x byte) bool {
	for _, c := range b {
		if c == x {
			return true
		}
	}
	return false
}

// decodeClassify is Classify by x86asm's full decode: the reference.
func decodeClassify(code []byte, mode int, rflags uint64) Insn {
	inst, err := x86asm.Decode(code, mode)
	if err != nil || inst.Op == 0 { // Op 0: x86asm's answer to bytes cut short
		return Insn{Kind: Unknown}
	}
	in := Insn{Kind: Plain, Len: inst.Len}
	switch inst.Op {
	case x86asm.PUSHF, x86asm.PUSHFD, x86asm.PUSHFQ:
		in.Kind = PushFlags
	case x86asm.POPF, x86asm.POPFD, x86asm.POPFQ, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ, x86asm.SYSRET:
		in.Kind = LoadsFlags
	case x86asm.SYSCALL:
		in.Kind = Syscall
	case x86asm.INT:
		if imm, ok := inst.Args[0].(x86asm.Imm); ok {
			in.Kind, in.Vector = SoftInt, uint8(imm)
		}
	case x86asm.INTO:
		if rflags&RFLAGSOF != 0 {
			in.Kind, in.Vector = SoftInt, VectorOF
		}
	}
	return in
}
