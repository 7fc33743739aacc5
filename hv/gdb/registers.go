package gdb

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Registers is the register file the stub shows gdb: always the 64-bit
// x86 view (as QEMU does: gdb cannot change register sizes in a session,
// so a guest in 32-bit or real mode shows its registers zero-extended).
// The x87 fields follow gdb's i387 names and widths, not FXSAVE's: FTag is
// the full 16-bit tag word (two bits per register), FISeg/FIOff the last
// instruction's CS and offset, FOSeg/FOOff its operand's DS and offset.
type Registers struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP                                    uint64
	RFLAGS                                 uint64 // gdb's eflags: the low 32 bits
	CS, SS, DS, ES, FS, GS                 uint16 // selectors

	FSBase, GSBase, KernelGSBase  uint64 // KernelGSBase: IA32_KERNEL_GS_BASE, swapped in by SWAPGS
	CR0, CR2, CR3, CR4, CR8, EFER uint64

	ST                                                  [8][10]byte // ST(0)..ST(7), 80-bit extended, little-endian
	FCtrl, FStat, FTag, FISeg, FIOff, FOSeg, FOOff, FOp uint32

	XMM   [16][16]byte // little-endian
	MXCSR uint32
}

// regDef describes one register as gdb sees it: name, width in bits, gdb
// type, group (empty: gdb's default for the type), the target-description feature it belongs to, and the
// Registers field it is kept in.
type regDef struct {
	name    string
	bits    int
	typ     string
	group   string
	feature string
	field   func(*Registers) any // *uint64, *uint32, *uint16, *[10]byte or *[16]byte
}

// Target-description features (gdb's names where gdb knows them; gdb's
// amd64 support requires org.gnu.gdb.i386.core and uses .sse and
// .segments; it shows the registers of features it does not know, like
// the system registers, by name).
const (
	featureCore     = "org.gnu.gdb.i386.core"
	featureSSE      = "org.gnu.gdb.i386.sse"
	featureSegments = "org.gnu.gdb.i386.segments"
	featureSystem   = "org.hindsight.x86.system"
)

// registerTable is the order of registers in the g packet and their
// numbers in p and P packets. The target description is generated from it.
var registerTable = buildRegisterTable()

func buildRegisterTable() []regDef {
	var t []regDef
	add := func(feature, name string, bits int, typ, group string, field func(*Registers) any) {
		t = append(t, regDef{name: name, bits: bits, typ: typ, group: group, feature: feature, field: field})
	}
	gpr := []struct {
		name  string
		field func(*Registers) any
	}{
		{"rax", func(r *Registers) any { return &r.RAX }}, {"rbx", func(r *Registers) any { return &r.RBX }},
		{"rcx", func(r *Registers) any { return &r.RCX }}, {"rdx", func(r *Registers) any { return &r.RDX }},
		{"rsi", func(r *Registers) any { return &r.RSI }}, {"rdi", func(r *Registers) any { return &r.RDI }},
		{"rbp", func(r *Registers) any { return &r.RBP }}, {"rsp", func(r *Registers) any { return &r.RSP }},
		{"r8", func(r *Registers) any { return &r.R8 }}, {"r9", func(r *Registers) any { return &r.R9 }},
		{"r10", func(r *Registers) any { return &r.R10 }}, {"r11", func(r *Registers) any { return &r.R11 }},
		{"r12", func(r *Registers) any { return &r.R12 }}, {"r13", func(r *Registers) any { return &r.R13 }},
		{"r14", func(r *Registers) any { return &r.R14 }}, {"r15", func(r *Registers) any { return &r.R15 }},
	}
	for _, g := range gpr {
		typ := "int64"
		if g.name == "rbp" || g.name == "rsp" {
			typ = "data_ptr"
		}
		add(featureCore, g.name, 64, typ, "", g.field)
	}
	add(featureCore, "rip", 64, "code_ptr", "", func(r *Registers) any { return &r.RIP })
	add(featureCore, "eflags", 32, "i386_eflags", "", func(r *Registers) any { return &r.RFLAGS })
	segs := []struct {
		name  string
		field func(*Registers) any
	}{
		{"cs", func(r *Registers) any { return &r.CS }}, {"ss", func(r *Registers) any { return &r.SS }},
		{"ds", func(r *Registers) any { return &r.DS }}, {"es", func(r *Registers) any { return &r.ES }},
		{"fs", func(r *Registers) any { return &r.FS }}, {"gs", func(r *Registers) any { return &r.GS }},
	}
	for _, s := range segs {
		add(featureCore, s.name, 32, "int32", "", s.field)
	}
	for i := range 8 {
		add(featureCore, fmt.Sprintf("st%d", i), 80, "i387_ext", "", func(r *Registers) any { return &r.ST[i] })
	}
	x87 := []struct {
		name  string
		field func(*Registers) any
	}{
		{"fctrl", func(r *Registers) any { return &r.FCtrl }}, {"fstat", func(r *Registers) any { return &r.FStat }},
		{"ftag", func(r *Registers) any { return &r.FTag }}, {"fiseg", func(r *Registers) any { return &r.FISeg }},
		{"fioff", func(r *Registers) any { return &r.FIOff }}, {"foseg", func(r *Registers) any { return &r.FOSeg }},
		{"fooff", func(r *Registers) any { return &r.FOOff }}, {"fop", func(r *Registers) any { return &r.FOp }},
	}
	for _, x := range x87 {
		add(featureCore, x.name, 32, "int", "float", x.field)
	}
	for i := range 16 {
		add(featureSSE, fmt.Sprintf("xmm%d", i), 128, "vec128", "", func(r *Registers) any { return &r.XMM[i] })
	}
	add(featureSSE, "mxcsr", 32, "i386_mxcsr", "vector", func(r *Registers) any { return &r.MXCSR })
	add(featureSegments, "fs_base", 64, "int64", "", func(r *Registers) any { return &r.FSBase })
	add(featureSegments, "gs_base", 64, "int64", "", func(r *Registers) any { return &r.GSBase })
	add(featureSystem, "k_gs_base", 64, "int64", "system", func(r *Registers) any { return &r.KernelGSBase })
	add(featureSystem, "cr0", 64, "x86_cr0", "system", func(r *Registers) any { return &r.CR0 })
	add(featureSystem, "cr2", 64, "int64", "system", func(r *Registers) any { return &r.CR2 })
	add(featureSystem, "cr3", 64, "int64", "system", func(r *Registers) any { return &r.CR3 })
	add(featureSystem, "cr4", 64, "x86_cr4", "system", func(r *Registers) any { return &r.CR4 })
	add(featureSystem, "cr8", 64, "int64", "system", func(r *Registers) any { return &r.CR8 })
	add(featureSystem, "efer", 64, "x86_efer", "system", func(r *Registers) any { return &r.EFER })
	return t
}

// registerBytes is the size of the g packet's register block.
var registerBytes = func() int {
	n := 0
	for _, d := range registerTable {
		n += d.bits / 8
	}
	return n
}()

// encodeRegister appends register d of r, little-endian, d.bits/8 bytes.
func encodeRegister(dst []byte, r *Registers, d *regDef) []byte {
	size := d.bits / 8
	switch p := d.field(r).(type) {
	case *uint64:
		if size == 4 {
			return binary.LittleEndian.AppendUint32(dst, uint32(*p))
		}
		return binary.LittleEndian.AppendUint64(dst, *p)
	case *uint32:
		return binary.LittleEndian.AppendUint32(dst, *p)
	case *uint16:
		return binary.LittleEndian.AppendUint32(dst, uint32(*p))
	case *[10]byte:
		return append(dst, p[:]...)
	case *[16]byte:
		return append(dst, p[:]...)
	}
	panic("gdb: register " + d.name + " has no field type") // the table is fixed at build time
}

// decodeRegister stores src (d.bits/8 bytes, little-endian) into r. A
// value that does not fit the field (a selector above 0xFFFF) is an error.
func decodeRegister(src []byte, r *Registers, d *regDef) error {
	switch p := d.field(r).(type) {
	case *uint64:
		if d.bits == 32 {
			*p = uint64(binary.LittleEndian.Uint32(src))
		} else {
			*p = binary.LittleEndian.Uint64(src)
		}
	case *uint32:
		*p = binary.LittleEndian.Uint32(src)
	case *uint16:
		v := binary.LittleEndian.Uint32(src)
		if v > 0xFFFF {
			return fmt.Errorf("%s: %#x does not fit a 16-bit selector", d.name, v)
		}
		*p = uint16(v)
	case *[10]byte:
		copy(p[:], src)
	case *[16]byte:
		copy(p[:], src)
	}
	return nil
}

// targetXML is the target description served by qXfer:features:read.
var targetXML = buildTargetXML()

// Types the description defines: flag sets for the registers gdb shows
// field by field, and the SSE vector union (gdb defines none of these
// itself when a stub supplies the description).
const xmlTypes = `
<flags id="i386_eflags" size="4">
 <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
 <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
 <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
 <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
 <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
 <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>`

const xmlSSETypes = `
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
 <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
 <field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
 <field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
 <field name="uint128" type="uint128"/>
</union>
<flags id="i386_mxcsr" size="4">
 <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
 <field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
 <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
 <field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
 <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
</flags>`

// Control-register flags (SDM Vol. 3A §2.5, §2.2.1), so "info registers
// cr0" shows [ PG PE ... ].
const xmlSystemTypes = `
<flags id="x86_cr0" size="8">
 <field name="PE" start="0" end="0"/><field name="MP" start="1" end="1"/><field name="EM" start="2" end="2"/>
 <field name="TS" start="3" end="3"/><field name="ET" start="4" end="4"/><field name="NE" start="5" end="5"/>
 <field name="WP" start="16" end="16"/><field name="AM" start="18" end="18"/><field name="NW" start="29" end="29"/>
 <field name="CD" start="30" end="30"/><field name="PG" start="31" end="31"/>
</flags>
<flags id="x86_cr4" size="8">
 <field name="VME" start="0" end="0"/><field name="PVI" start="1" end="1"/><field name="TSD" start="2" end="2"/>
 <field name="DE" start="3" end="3"/><field name="PSE" start="4" end="4"/><field name="PAE" start="5" end="5"/>
 <field name="MCE" start="6" end="6"/><field name="PGE" start="7" end="7"/><field name="PCE" start="8" end="8"/>
 <field name="OSFXSR" start="9" end="9"/><field name="OSXMMEXCPT" start="10" end="10"/>
 <field name="UMIP" start="11" end="11"/><field name="LA57" start="12" end="12"/><field name="VMXE" start="13" end="13"/>
 <field name="SMXE" start="14" end="14"/><field name="FSGSBASE" start="16" end="16"/>
 <field name="PCIDE" start="17" end="17"/><field name="OSXSAVE" start="18" end="18"/>
 <field name="SMEP" start="20" end="20"/><field name="SMAP" start="21" end="21"/><field name="PKE" start="22" end="22"/>
</flags>
<flags id="x86_efer" size="8">
 <field name="SCE" start="0" end="0"/><field name="LME" start="8" end="8"/><field name="LMA" start="10" end="10"/>
 <field name="NXE" start="11" end="11"/>
</flags>`

func buildTargetXML() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>`)
	types := map[string]string{featureCore: xmlTypes, featureSSE: xmlSSETypes, featureSystem: xmlSystemTypes}
	feature := ""
	for _, d := range registerTable {
		if d.feature != feature {
			if feature != "" {
				b.WriteString("\n</feature>")
			}
			feature = d.feature
			fmt.Fprintf(&b, "\n<feature name=%q>%s", feature, types[feature])
		}
		// Registers are numbered in document order (no regnum needed); gdb
		// derives the group from the type unless told.
		fmt.Fprintf(&b, "\n<reg name=%q bitsize=\"%d\" type=%q", d.name, d.bits, d.typ)
		if d.group != "" {
			fmt.Fprintf(&b, " group=%q", d.group)
		}
		b.WriteString("/>")
	}
	b.WriteString("\n</feature>\n</target>\n")
	return b.String()
}

// registerByName returns the number of the named register, or -1.
func registerByName(name string) int {
	for i, d := range registerTable {
		if d.name == name {
			return i
		}
	}
	return -1
}
