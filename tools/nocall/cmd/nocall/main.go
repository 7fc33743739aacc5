// Command nocall reports allocations and write barriers reachable from
// functions that run in trap, syscall or VM-exit context. See package
// hindsight/tools/nocall.
//
// Usage:
//
//	go run ./tools/nocall/cmd/nocall [flags] -f REGEXP [-f REGEXP ...] BINARY
//
// Errors are printed as "error: caller -> ... -> callee at file:line [kind]",
// warnings as "warning: ...". The exit status is 1 if there are errors (or
// warnings, with -werror), 2 on usage or tool failure.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"hindsight/tools/nocall"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nocall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var funcs, ban, warn, allow listFlag
	fs.Var(&funcs, "f", "`regexp` of root function names (repeatable, required)")
	fs.Var(&ban, "ban", "additional banned callee `pattern` ('*' wildcard; repeatable)")
	fs.Var(&warn, "warn", "additional warning callee `pattern` (repeatable)")
	fs.Var(&allow, "allow", "additional trusted callee `pattern`: neither reported nor followed, overrides bans (repeatable)")
	nosplit := fs.Bool("nosplit", false, "also report runtime.morestack* calls (functions that are not //go:nosplit)")
	noIndirect := fs.Bool("noindirect", false, "do not warn about indirect calls (the main module's interface methods they may call are still checked)")
	quiet := fs.Bool("q", false, "do not print warnings")
	werror := fs.Bool("werror", false, "treat warnings as errors for the exit status")
	goCmd := fs.String("go", "go", "go `command` used to run go tool objdump")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nocall [flags] -f REGEXP [-f REGEXP ...] BINARY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || len(funcs) == 0 {
		fs.Usage()
		return 2
	}
	var res []*regexp.Regexp
	for _, f := range funcs {
		re, err := regexp.Compile(f)
		if err != nil {
			fmt.Fprintln(stderr, "nocall:", err)
			return 2
		}
		res = append(res, re)
	}
	opts := &nocall.Options{
		Banned:         append(append([]string(nil), nocall.DefaultBanned...), ban...),
		Warn:           append(append([]string(nil), nocall.DefaultWarn...), warn...),
		Allowed:        append(append([]string(nil), nocall.DefaultAllowed...), allow...),
		NoSplit:        *nosplit,
		IgnoreIndirect: *noIndirect,
		GoCmd:          *goCmd,
	}
	vs, err := nocall.Check(fs.Arg(0), res, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	nerr, nwarn := 0, 0
	for _, v := range vs {
		if v.Warning {
			nwarn++
			if !*quiet {
				fmt.Fprintln(stdout, "warning:", v)
			}
		} else {
			nerr++
			fmt.Fprintln(stdout, "error:", v)
		}
	}
	fmt.Fprintf(stderr, "nocall: %d error(s), %d warning(s)\n", nerr, nwarn)
	if nerr > 0 || (*werror && nwarn > 0) {
		return 1
	}
	return 0
}
