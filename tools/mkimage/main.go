// Command mkimage converts the linked hindsight ELF (a stock
// GOOS=linux GOARCH=amd64 CGO_ENABLED=0 Go executable) into a flat
// multiboot v1 image that QEMU (-kernel) and GRUB (multiboot) can load.
//
// QEMU refuses to multiboot a 64-bit ELF, so the image uses the multiboot
// "a.out kludge" (header flag bit 16): the header's address fields tell the
// loader where the file goes, and the file is a flat copy of memory.
//
// Layout of the output file:
//
//	offset 0:       multiboot header (32 bytes), rest of the page zero
//	offset 0x1000+: the PT_LOAD segments' file bytes, each at
//	                vaddr - load_addr, gaps zero-filled
//
// with load_addr = header_addr = (lowest PT_LOAD vaddr rounded down to a
// page) - 0x1000, load_end_addr = load_addr + file length, bss_end_addr =
// max(vaddr+memsz) so the loader zeroes .bss/.noptrbss, and entry_addr = the
// value of the -entry symbol (a 32-bit assembly entry point; assembly symbols
// carry the ".abi0" suffix in Go's ELF symbol table).
//
// Usage:
//
//	go run ./tools/mkimage [-entry SYM] -o build/hindsight.img build/hindsight.elf
//
// On success it prints one summary line to stderr; every problem is an error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const defaultEntry = "hindsight/boot.multibootEntry.abi0"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	entry := fs.String("entry", defaultEntry, "ELF symbol of the 32-bit multiboot entry point")
	out := fs.String("o", "", "output image `file` (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkimage [-entry SYM] -o IMAGE ELF")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		fs.Usage()
		return errors.New("need -o IMAGE and exactly one input ELF")
	}
	in := fs.Arg(0)
	elfBytes, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	img, hdr, err := build(elfBytes, *entry)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := writeFileAtomic(*out, img); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mkimage: %s: %s (%s)\n", *out, hdr, *entry)
	return nil
}

// writeFileAtomic writes data to a temporary file next to name and renames it
// into place, so a failed run never leaves a truncated image behind.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
