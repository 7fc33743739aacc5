package image

import (
	"bytes"
	"reflect"
	"testing"
)

func TestParseChoice(t *testing.T) {
	good := []struct {
		cmdline string
		want    Choice
	}{
		{"guestmem=64M selftest", Choice{}},
		{"guest=bzImage initrd=initramfs.cpio.gz lag=1s", Choice{Guest: "bzImage", Initrd: "initramfs.cpio.gz"}},
		{"guest=mb.elf guestmods=a.bin,b.bin", Choice{Guest: "mb.elf", Modules: []string{"a.bin", "b.bin"}}},
		{"guestx=1 guest", Choice{}},
	}
	for _, tc := range good {
		c, err := ParseChoice(tc.cmdline)
		if err != nil || !reflect.DeepEqual(c, tc.want) {
			t.Errorf("ParseChoice(%q) = %+v, %v; want %+v", tc.cmdline, c, err, tc.want)
		}
	}
	if c, _ := ParseChoice("x=1"); !c.Embedded() {
		t.Error("no guest= is not the embedded guest")
	}
	bad := []struct{ cmdline, want string }{
		{"guest=a guest=b", "guest= appears twice"},
		{"guest=", "guest= names no module"},
		{"guest=k guestmods=a,,b", "empty name"},
		{"initrd=x", "go with guest="},
		{"guestmods=x", "go with guest="},
		{"guest=k initrd=i guestmods=m", "cannot both be given"},
		{"guest=k initrd=k", "module k is named twice (guest= and initrd=)"},
		{"guest=k guestmods=a,k", "module k is named twice (guest= and guestmods=)"},
		{"guest=k guestmods=a,b,a", "module a is named twice (guestmods= and guestmods=)"},
	}
	for _, tc := range bad {
		_, err := ParseChoice(tc.cmdline)
		wantErr(t, err, tc.want, "image: options: ")
	}
}

func TestModuleName(t *testing.T) {
	for _, tc := range []struct{ s, name, args string }{
		{"build/mbtest/mb32.elf a=1  b", "mb32.elf", "a=1  b"},
		{"/boot/bzImage", "bzImage", ""},
		{"bzImage console=ttyS0", "bzImage", "console=ttyS0"},
		{"", "", ""},
		{"  x  ", "x", ""},
	} {
		if n, a := ModuleName(tc.s); n != tc.name || a != tc.args {
			t.Errorf("ModuleName(%q) = %q, %q; want %q, %q", tc.s, n, a, tc.name, tc.args)
		}
	}
}

func TestChoiceSpec(t *testing.T) {
	mb := buildELF(elfSpec{entry: 0x100000, prefix: mbHeaderBytes(0), segs: []seg{{paddr: 0x100000, vaddr: 0x100000, data: fill(16, 1)}}})
	bz := buildBzImage(defaultBz())
	mods := []Module{
		{"dir/mb.elf verbose x=1", mb},
		{"/boot/bzImage console=ttyS0 nolapic", bz},
		{"initramfs.cpio.gz ignored", []byte("070701")},
		{"a.bin first", []byte("A")},
		{"b.bin", []byte("B")},
		{"dup", nil},
		{"other/dup", nil},
		{"text", []byte("plain text")},
	}
	spec := func(cmdline string) (Spec, error) {
		c, err := ParseChoice(cmdline)
		if err != nil {
			t.Fatal(err)
		}
		return c.Spec(mods)
	}
	s, err := spec("guest=mb.elf guestmods=b.bin,a.bin")
	want := Spec{Name: "mb.elf", Format: MultibootELF32, Kernel: mb, Cmdline: "mb.elf verbose x=1",
		Modules: []Module{{"b.bin", []byte("B")}, {"a.bin first", []byte("A")}}}
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Errorf("multiboot spec %+v, %v", s, err)
	}
	s, err = spec("guest=bzImage initrd=initramfs.cpio.gz")
	if err != nil || s.Format != LinuxBzImage || s.Cmdline != "console=ttyS0 nolapic" || !bytes.Equal(s.Initrd, []byte("070701")) || s.Modules != nil {
		t.Errorf("Linux spec %+v, %v", s, err)
	}
	for _, tc := range []struct{ cmdline, want string }{
		{"guest=nothere", "no module is named nothere; the modules are: mb.elf, bzImage, initramfs.cpio.gz, a.bin, b.bin, dup, dup, text"},
		{"guest=dup", "2 modules are named dup"},
		{"guest=mb.elf guestmods=a.bin,zz", "guestmods=zz: no module is named zz"},
		{"guest=bzImage initrd=zz", "initrd=zz: no module"},
		{"guest=mb.elf initrd=a.bin", "initrd= is for Linux kernels; mb.elf is a multiboot ELF32"},
		{"guest=bzImage guestmods=a.bin", "guestmods= is for multiboot kernels; bzImage is a Linux bzImage"},
		{"guest=text", "image: text: unknown kernel format"},
		{"guest=initramfs.cpio.gz", "cpio archive"},
	} {
		_, err := spec(tc.cmdline)
		wantErr(t, err, tc.want)
	}
	c, _ := ParseChoice("guest=k")
	_, err = c.Spec([]Module{{"", nil}})
	wantErr(t, err, "(no name)", "repeat the name")
	_, err = c.Spec(nil)
	wantErr(t, err, "booted without modules")
}

func FuzzParseChoice(f *testing.F) {
	f.Add("guest=a initrd=b guestmods=c,d")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChoice(s)
		if err == nil && !c.Embedded() {
			c.Spec([]Module{{s, []byte(s)}})
		}
	})
}
