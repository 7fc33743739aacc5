package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"hindsight/tools/nocall"
)

// TestTrapPathsDoNotAllocate builds the hypervisor image and checks that
// nothing reachable from the trap, syscall and interrupt entry points calls
// an allocation or write-barrier routine: kernel code runs on a fake g with
// interrupts off, where either would corrupt the runtime.
func TestTrapPathsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image")
	}
	elf := filepath.Join(t.TempDir(), "hindsight.elf")
	cmd := exec.Command("go", "build", "-o", elf, "..")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	roots := []*regexp.Regexp{
		regexp.MustCompile(`^hindsight/boot\.(trap|syscallEntry|vectors|resume|nmiEntry|idleLoop)$`),
		regexp.MustCompile(`^hindsight/boot\.apMain$`),
	}
	vs, err := nocall.Check(elf, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	warnings := 0
	for _, v := range vs {
		if v.Warning {
			warnings++
		} else {
			t.Error(v)
		}
	}
	t.Logf("%d warnings (bounds-check panics and indirect calls; bugs if reached, not allocations)", warnings)
}
