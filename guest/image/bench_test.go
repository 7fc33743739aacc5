package image

import (
	"testing"

	"hindsight/guest/testguest"
)

// Load times on the host, RAM reused between iterations (clearing it is
// part of every load). Sizes like the real kernels tested with
// TestQEMULinux: a 13.5 MiB bzImage, a vmlinux with 45 MiB of segments.
func BenchmarkLoad(b *testing.B) {
	bz := defaultBz()
	bz.pmLen, bz.initSize = 13837<<10, 0x3378000
	cases := []struct {
		name string
		ram  int
		spec Spec
	}{
		{"flat64-testguest-32M", 32 << 20, Spec{Format: Flat64, Kernel: testguest.Image}},
		{"multiboot-elf32-64K-2mods-32M", 32 << 20, Spec{Cmdline: "k", Kernel: buildELF(elfSpec{entry: 0x100000, prefix: mbHeaderBytes(mbMemInfo),
			segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(64<<10, 1), memsz: 128 << 10}}}),
			Modules: []Module{{"a", fill(1<<20, 2)}, {"b", fill(1<<20, 3)}}}},
		{"multiboot-aout-64K-32M", 32 << 20, Spec{Kernel: aoutKernel(0x100000, 64<<10, 64<<10, 0x100)}},
		{"bzImage-13.5M-256M", 256 << 20, Spec{Kernel: buildBzImage(bz), Cmdline: "console=ttyS0", Initrd: fill(2<<20, 4)}},
		{"vmlinux-45M-256M", 256 << 20, Spec{Kernel: buildELF(elfSpec{class64: true, entry: 0x1000000, segs: []seg{
			{paddr: 0x1000000, vaddr: 0xFFFFFFFF81000000, data: fill(0x1826710, 5)},
			{paddr: 0x2A00000, vaddr: 0xFFFFFFFF82A00000, data: fill(0x61A000, 6)},
			{paddr: 0x304E000, vaddr: 0xFFFFFFFF8304E000, data: fill(0x400000, 7), memsz: 0xDB2000}}}),
			Cmdline: "console=ttyS0", Initrd: fill(2<<20, 4)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ram := make([]byte, c.ram)
			b.SetBytes(int64(c.ram))
			for b.Loop() {
				if _, _, err := Load(ram, c.spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("clear-only-256M", func(b *testing.B) {
		ram := make([]byte, 256<<20)
		b.SetBytes(int64(len(ram)))
		for b.Loop() {
			clear(ram)
		}
	})
}
