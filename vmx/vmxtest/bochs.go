// Package vmxtest holds reference VMX capability values for tests: those
// read from Debian's Bochs 2.7 (model corei7_skylake_x), as recorded in
// shared/design/bochs-vmx.md.
package vmxtest

// BochsSkylakeX maps MSR number to value. It imports nothing, so the vmx
// package's own tests can use it.
var BochsSkylakeX = map[uint32]uint64{
	0x3A:  0x5,                // IA32_FEATURE_CONTROL
	0x480: 0x00d810000000002b, // IA32_VMX_BASIC
	0x48D: 0x0000007f00000016, // IA32_VMX_TRUE_PINBASED_CTLS
	0x48E: 0xf7f9fffe04006172, // IA32_VMX_TRUE_PROCBASED_CTLS
	0x48B: 0x02177fff00000000, // IA32_VMX_PROCBASED_CTLS2
	0x48F: 0x007fffff00036dfb, // IA32_VMX_TRUE_EXIT_CTLS
	0x490: 0x0000ffff000011fb, // IA32_VMX_TRUE_ENTRY_CTLS
	0x485: 0x00000000600401e0, // IA32_VMX_MISC
	0x48C: 0x00000f0106334141, // IA32_VMX_EPT_VPID_CAP
	0x486: 0x80000021,         // IA32_VMX_CR0_FIXED0
	0x487: 0xffffffff,         // IA32_VMX_CR0_FIXED1
	0x488: 0x2000,             // IA32_VMX_CR4_FIXED0
	0x489: 0x3727ff,           // IA32_VMX_CR4_FIXED1
}
