package image

import (
	"errors"
	"testing"
)

// The fuzz targets start from the synthetic kernels of the tests; with
// `go test` they run the seeds only, with -fuzz they mutate them.

func fuzzSeeds(f *testing.F) {
	f.Add(buildELF(elfSpec{entry: 0x100000, prefix: mbHeaderBytes(mbMemInfo), segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(0x40, 1), memsz: 0x1000}}}))
	f.Add(buildELF(elfSpec{class64: true, entry: 0x1000000, segs: []seg{{paddr: 0x1000000, vaddr: 0xFFFFFFFF81000000, data: fill(0x40, 1)}}}))
	f.Add(aoutKernel(0x100000, 0x400, 0x1000, 0x40))
	s := defaultBz()
	s.pmLen, s.initSize = 0x100, 0x100000
	f.Add(buildBzImage(s))
	f.Add([]byte("070701"))
}

func FuzzDetect(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		format, err := Detect(b)
		var e *Error
		if err != nil && (format != Unknown || !errors.As(err, &e)) {
			t.Fatalf("Detect = %v, %v (%T)", format, err, err)
		}
		if err == nil && (format == Unknown || format == Flat64) {
			t.Fatalf("Detect = %v without an error", format)
		}
	})
}

// FuzzLoad loads into 4 MiB of RAM with a module and an initrd where the
// format takes them: any input must give an entry or an *Error, never a
// panic, and an entry's RIP must lie in RAM.
func FuzzLoad(f *testing.F) {
	fuzzSeeds(f)
	ram := make([]byte, 4<<20)
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Spec{Kernel: b, Cmdline: "fuzz"}
		if format, err := Detect(b); err == nil {
			if format.Multiboot() {
				s.Modules = []Module{{"m", b[:min(len(b), 100)]}}
			} else {
				s.Initrd = b[:min(len(b), 100)]
			}
		}
		e, _, err := Load(ram, s)
		var ie *Error
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("error %v is a %T", err, err)
		}
		if err == nil && (e.RIP >= uint64(len(ram)) || e.Mode == 0) {
			t.Fatalf("entry %+v outside %d bytes of RAM", e, len(ram))
		}
	})
}
