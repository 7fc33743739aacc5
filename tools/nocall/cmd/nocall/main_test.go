package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const prog = `package main

var global *int

//go:noinline
func trapStore(p *int) { global = p }

//go:noinline
func trapIndex(a []int, i int) int { return a[i] }

func main() {
	x := 1
	trapStore(&x)
	println(trapIndex([]int{1, 2}, x))
}
`

func buildProg(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"go.mod":  "module example.com/clitest\n\ngo 1.26\n",
		"main.go": prog,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prog.elf")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64",
		"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestCLI(t *testing.T) {
	bin := buildProg(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-f", `^main\.trap`, bin}, &stdout, &stderr); code != 1 {
		t.Errorf("exit status %d, want 1\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("stdout:\n%sstderr:\n%s", out, stderr.String())
	if !strings.Contains(out, "error: main.trapStore -> runtime.gcWriteBarrier") ||
		!strings.Contains(out, "warning: main.trapIndex -> runtime.panic") ||
		!strings.Contains(stderr.String(), "1 error(s), 1 warning(s)") {
		t.Errorf("unexpected output")
	}

	// Only the clean-but-bounds-checked function: warnings do not fail...
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-f", `^main\.trapIndex$`, bin}, &stdout, &stderr); code != 0 {
		t.Errorf("warnings only: exit status %d, want 0\n%s%s", code, stdout.String(), stderr.String())
	}
	// ... unless -werror; -q hides them.
	stdout.Reset()
	if code := run([]string{"-werror", "-q", "-f", `^main\.trapIndex$`, bin}, &stdout, &stderr); code != 1 || stdout.Len() != 0 {
		t.Errorf("-werror -q: exit status %d, output %q", code, stdout.String())
	}
	// Allowing the write barrier routine silences the error (the flag
	// check alone is then reported as a write barrier check).
	stdout.Reset()
	if code := run([]string{"-allow", "runtime.gcWriteBarrier*", "-f", `^main\.trapStore$`, bin}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stdout.String(), "write barrier check") {
		t.Errorf("-allow gcWriteBarrier*: exit status %d, output %q", code, stdout.String())
	}

	// Usage errors.
	for _, args := range [][]string{{bin}, {"-f", `^main\.`}, {"-f", "(", bin}, {"-f", "^nomatch$", bin}} {
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
