// Package imagetest helps tests that examine the linked hypervisor image:
// it builds the image and checks the code reachable from given roots for
// allocation and write barriers (tools/nocall).
package imagetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"hindsight/tools/nocall"
)

// Build links the main package in dir as the bare-metal image
// (GOOS=linux GOARCH=amd64 CGO_ENABLED=0) and returns the ELF's path. It
// skips the test under -short.
func Build(t testing.TB, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the image")
	}
	elf := filepath.Join(t.TempDir(), "hindsight.elf")
	cmd := exec.Command("go", "build", "-o", elf, dir)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return elf
}

// NoAlloc fails the test for every allocation or write barrier reachable
// from functions matching roots in elf, including through the methods of
// the main module's interfaces. Warnings are counted in the log; the
// indirect calls are logged one by one, each saying what nocall could not
// follow from it (func values, other interfaces' methods).
func NoAlloc(t testing.TB, elf string, roots ...string) {
	t.Helper()
	NoAllocExcept(t, elf, nil, roots...)
}

// NoAllocExcept is NoAlloc with the functions matching the nocall name
// patterns in except neither checked nor followed: code the roots reach
// that runs outside the path the check guards (each caller says why).
func NoAllocExcept(t testing.TB, elf string, except []string, roots ...string) {
	t.Helper()
	var res []*regexp.Regexp
	for _, r := range roots {
		res = append(res, regexp.MustCompile(r))
	}
	var opts *nocall.Options
	if len(except) > 0 {
		opts = &nocall.Options{Allowed: append(append([]string(nil), nocall.DefaultAllowed...), except...)}
	}
	vs, err := nocall.Check(elf, res, opts)
	if err != nil {
		t.Fatal(err)
	}
	panics, indirect := 0, 0
	for _, v := range vs {
		switch {
		case !v.Warning:
			t.Error(v)
		case v.Kind == nocall.KindIndirect:
			indirect++
			t.Log(v)
		default:
			panics++
		}
	}
	t.Logf("%d warnings: %d panic helper calls (bugs if reached, not allocations), %d indirect calls", panics+indirect, panics, indirect)
}
