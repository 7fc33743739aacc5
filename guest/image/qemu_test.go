package image

// End-to-end tests on bare QEMU (TCG, no VT-x): testdata/harness.S puts
// guest RAM as Load left it in place and enters the kernel in the Entry's
// state, so real kernels run on exactly what Load built. Skipped when
// qemu-system-x86_64, as or ld is missing (and the multiboot guests when
// make or gcc is).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hindsight/guest/testguest"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: skipping the QEMU test", tool)
		}
	}
}

// payload encodes RAM's non-zero pages and the entry state for harness.S.
func payload(ram []byte, e Entry) []byte {
	type run struct{ dst, n uint32 }
	var runs []run
	for p := 0; p < len(ram); p += pageSize {
		if allZero(ram[p : p+pageSize]) {
			continue
		}
		if k := len(runs) - 1; k >= 0 && int(runs[k].dst+runs[k].n) == p {
			runs[k].n += pageSize
		} else {
			runs = append(runs, run{uint32(p), pageSize})
		}
	}
	h := make([]byte, 128)
	le.PutUint32(h[0:], uint32(e.Mode))
	le.PutUint32(h[4:], uint32(len(ram)))
	le.PutUint32(h[8:], uint32(len(runs)))
	for i, v := range []uint64{e.RIP, e.RSP, e.RAX, e.RBX, e.RSI, e.RDI, e.CR0, e.CR3, e.CR4, e.EFER} {
		le.PutUint64(h[16+8*i:], v)
	}
	le.PutUint32(h[96:], uint32(e.GDTBase))
	le.PutUint16(h[100:], e.GDTLimit)
	le.PutUint16(h[102:], e.CS.Selector)
	le.PutUint16(h[104:], e.DS.Selector)
	for _, r := range runs {
		h = binary.LittleEndian.AppendUint32(h, r.dst)
		h = binary.LittleEndian.AppendUint32(h, r.n)
	}
	for _, r := range runs {
		h = append(h, ram[r.dst:r.dst+r.n]...)
	}
	return h
}

type qemuRun struct {
	serial string // COM1, "\r" removed
	status int    // QEMU's exit status (isa-debug-exit at 0x501: 2*status+1); -1 if stopped at the marker
}

// runLoaded boots what Load put in ram under QEMU and returns when QEMU
// exits or done matches the serial output.
func runLoaded(t *testing.T, ram []byte, e Entry, done *regexp.Regexp, timeout time.Duration) qemuRun {
	t.Helper()
	needTools(t, "qemu-system-x86_64", "as", "ld")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "payload.bin"), payload(ram, e), 0o644); err != nil {
		t.Fatal(err)
	}
	// The harness lies above guest RAM, 16 MiB aligned.
	harnessAddr := (uint64(len(ram)) + 32<<20) &^ (16<<20 - 1)
	obj, bin := filepath.Join(dir, "harness.o"), filepath.Join(dir, "harness.bin")
	for _, args := range [][]string{
		{"as", "--64", "-I", dir, "-o", obj, "testdata/harness.S"},
		{"ld", fmt.Sprintf("-Ttext=%#x", harnessAddr), "--oformat", "binary", "-e", "_start", "-o", bin, obj},
	} {
		if msg, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, msg)
		}
	}
	fi, _ := os.Stat(bin)
	memMiB := (harnessAddr+uint64(fi.Size()))>>20 + 64
	serial := filepath.Join(dir, "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", fmt.Sprintf("%dM", memMiB),
		"-display", "none", "-monitor", "none", "-no-reboot", "-kernel", bin, "-serial", "file:"+serial,
		"-device", "isa-debug-exit,iobase=0x501,iosize=4")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	read := func() string {
		b, _ := os.ReadFile(serial)
		return strings.ReplaceAll(string(b), "\r", "")
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			r := qemuRun{serial: read()}
			var ee *exec.ExitError
			switch {
			case ctx.Err() != nil:
				t.Fatalf("QEMU timed out after %v; serial output:\n%s", timeout, r.serial)
			case errors.As(err, &ee):
				r.status = ee.ExitCode()
			case err != nil:
				t.Fatalf("QEMU: %v\n%s", err, stderr.String())
			}
			return r
		case <-tick.C:
			if s := read(); done != nil && done.MatchString(s) {
				cmd.Process.Kill()
				<-exited
				return qemuRun{serial: read(), status: -1}
			}
		}
	}
}

// cksum is POSIX cksum's CRC of b (what `cksum` prints first).
func cksum(b []byte) uint32 {
	var crc uint32
	add := func(c byte) {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	for _, c := range b {
		add(c)
	}
	for n := len(b); n > 0; n >>= 8 {
		add(byte(n))
	}
	return ^crc
}

func TestCksum(t *testing.T) {
	// `printf 'hello\n' | cksum` prints 3015617425 6.
	if got := cksum([]byte("hello\n")); got != 3015617425 {
		t.Errorf("cksum = %d", got)
	}
}

// buildMbtest builds the multiboot test guests with the repository's make
// rules and returns their directory.
func buildMbtest(t *testing.T) string {
	t.Helper()
	needTools(t, "make", "gcc", "objcopy")
	if msg, err := exec.Command("make", "-C", "../..", "-s", "mbtest").CombinedOutput(); err != nil {
		t.Fatalf("make mbtest: %v\n%s", err, msg)
	}
	return "../../build/mbtest"
}

// Each multiboot test guest, loaded by Load and entered in its Entry state,
// must see exactly the information Load built: magic, memory, map, command
// line, loader name, and each module's bytes and string.
func TestQEMUMultibootGuests(t *testing.T) {
	needTools(t, "qemu-system-x86_64", "as", "ld")
	dir := buildMbtest(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mods := []Module{{"a.bin x=1 y", fill(12345, 9)}, {"empty", []byte{}}, {"mb32.elf", read("mb32.elf")}}
	for _, tc := range []struct {
		file, variant string
		format        Format
		status        int
	}{
		{"mb32.elf", "mb32", MultibootELF32, -1},
		{"mb64.elf", "mb64", MultibootELF64, -1},
		{"mbaout.bin", "mbaout", MultibootAOut, -1},
		{"mbexit.elf", "mbexit", MultibootELF32, 1},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			ram := newRAM()
			e, r, err := Load(ram, Spec{Name: tc.file, Kernel: read(tc.file), Cmdline: tc.file + " hello world", Modules: mods})
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != tc.format {
				t.Errorf("format %v, want %v", r.Format, tc.format)
			}
			var done *regexp.Regexp // the exit variant ends QEMU itself
			if tc.status < 0 {
				done = regexp.MustCompile(`mbtest: \w+: done, `)
			}
			res := runLoaded(t, ram, e, done, 60*time.Second)
			p := "mbtest: " + tc.variant + ": "
			want := []string{
				p + "magic 0x2badb002 ok",
				p + "flags 0x0000024d",
				p + fmt.Sprintf("mem_lower 639 KiB, mem_upper %d KiB", (testRAM-0x100000)>>10),
				p + "mmap 0x00000000_00000000 +0x00000000_0009fc00 type 1",
				p + "mmap 0x00000000_0009fc00 +0x00000000_00060400 type 2",
				p + fmt.Sprintf("mmap 0x00000000_00100000 +0x00000000_%08x type 1", testRAM-0x100000),
				p + `cmdline "` + tc.file + ` hello world"`,
				p + `loader "hindsight"`,
				p + "mods 3",
			}
			mi := readMBI(t, ram, e.RBX)
			for i, m := range mods {
				want = append(want, p+fmt.Sprintf("mod %d: 0x%08x-0x%08x %d bytes, cksum %d, string %q",
					i, mi.mods[i].start, mi.mods[i].end, len(m.Data), cksum(m.Data), m.Cmdline))
			}
			want = append(want, p+"done, 0 problems")
			lines := strings.Split(strings.TrimSpace(res.serial), "\n")
			if got := strings.Join(lines[1:], "\n"); got != strings.Join(want, "\n") {
				t.Errorf("serial output:\n%s\nwant (after the start line):\n%s", res.serial, strings.Join(want, "\n"))
			}
			if res.status != tc.status {
				t.Errorf("QEMU status %d, want %d", res.status, tc.status)
			}
		})
	}
}

// The test guest in the flat format, through Load, runs its replay mode
// (PIC, PIT at 1000 Hz, interrupts on) for 20,480 iterations and exits
// with ExitOK (QEMU: 2*0+1).
func TestQEMUFlat64TestGuest(t *testing.T) {
	ram := newRAM()
	e, _, err := Load(ram, Spec{Name: "testguest", Format: Flat64, Kernel: testguest.Image, Args: [2]uint64{testguest.ModeReplay, 20480}})
	if err != nil {
		t.Fatal(err)
	}
	res := runLoaded(t, ram, e, nil, 60*time.Second)
	for _, want := range []string{"testguest: mode 2 start", "testguest: iterations 20480", "testguest: interrupts on", "testguest: done"} {
		if !strings.Contains(res.serial, want+"\n") {
			t.Errorf("no %q in the serial output:\n%s", want, res.serial)
		}
	}
	if want := 2*testguest.ExitOK + 1; res.status != want {
		t.Errorf("QEMU status %d, want %d", res.status, want)
	}
}

// A real Linux kernel, when HINDSIGHT_TEST_KERNEL names one (a bzImage or
// a vmlinux; HINDSIGHT_TEST_INITRD an initrd, optional;
// HINDSIGHT_TEST_EXPECT a line its init prints, optional): it must print
// its banner with Load's e820 map and run the initrd's /init, or without
// one get to mounting a root file system, then end (panic, power down).
func TestQEMULinux(t *testing.T) {
	path := os.Getenv("HINDSIGHT_TEST_KERNEL")
	if path == "" {
		t.Skip("HINDSIGHT_TEST_KERNEL is not set")
	}
	k, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := Spec{Name: filepath.Base(path), Kernel: k,
		Cmdline: "console=ttyS0 earlyprintk=serial,ttyS0 nokaslr acpi=off pci=off nolapic noapic panic=-1 reboot=t"}
	want := []string{"Linux version", "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable", "VFS: Unable to mount root"}
	if p := os.Getenv("HINDSIGHT_TEST_INITRD"); p != "" {
		if s.Initrd, err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		want[2] = "Run /init as init process"
	}
	if e := os.Getenv("HINDSIGHT_TEST_EXPECT"); e != "" {
		want = append(want, e)
	}
	ram := make([]byte, 256<<20)
	start := time.Now()
	e, r, err := Load(ram, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v, %s, loaded in %v", r.Format, r.Entry, time.Since(start))
	for _, g := range r.Regions {
		t.Log(g)
	}
	start = time.Now()
	res := runLoaded(t, ram, e, regexp.MustCompile(`Kernel panic - not syncing|reboot: (Power down|System halted)`), 300*time.Second)
	t.Logf("ran %v; serial output:\n%s", time.Since(start), res.serial)
	for _, w := range want {
		if !strings.Contains(res.serial, w) {
			t.Errorf("no %q in the serial output", w)
		}
	}
}
