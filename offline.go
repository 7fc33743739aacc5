package main

import (
	"fmt"
	"os"
	"strings"

	"hindsight/boot"
	"hindsight/hv"
)

// runOffline replays a capture file given as a multiboot module
// (replay=NAME; make replay CAPTURE=FILE): it restores the capture's
// snapshot, replays its log to just before the failure, waits there for
// gdb (gdb=com2) or compares the registers with the primary's final ones,
// and goes on into the failure. The exit status is the verdict.
func runOffline(m *hv.Machine, opts map[string]string) int {
	name := opts["replay"]
	var data []byte
	var names []string
	for _, mod := range boot.Modules() {
		n, _, _ := strings.Cut(mod.Cmdline, " ")
		names = append(names, n)
		if n == name {
			data = mod.Bytes()
		}
	}
	if data == nil {
		printErr(fmt.Errorf("replay=%s: no multiboot module of that name (modules: %s)", name, strings.Join(names, ", ")))
		return 1
	}
	cfg := hv.OfflineConfig{Memory: boot.GuestMemory(), CPU: boot.NumCPU() - 1, Capture: data}
	if s, ok := opts["snapshots"]; ok && s == "off" {
		cfg.Snapshots.Off = true
	}
	if s, ok := opts["gdb"]; ok {
		if s != "com2" {
			printErr(fmt.Errorf("gdb=%s: want gdb=com2 (the gdb stub on the second serial port)", s))
			return 1
		}
		line, err := boot.OpenSerial(boot.COM2)
		if err != nil {
			printErr(fmt.Errorf("gdb=%s: %w", s, err))
			return 1
		}
		cfg.GDB = line
		cfg.Attach = "gdb: target remote localhost:PORT (make replay GDBPORT=PORT)"
		if hasOpt(opts, "gdbtrace") {
			cfg.GDBTrace = os.Stdout
		}
	}
	o, err := m.NewOffline(cfg)
	if err != nil {
		fmt.Printf("hv: replay=%s: %s\n", name, strings.TrimPrefix(err.Error(), "hv: "))
		return 1
	}
	h := o.Header
	fmt.Printf("hv: offline replay of %s (%d bytes): guest %q, %d MiB of RAM, %v clock; snapshot at landmark %v, %d log records; %d non-zero pages restored\n",
		name, len(data), h.KernelName, h.GuestRAM>>20, o.Clock, h.Snap, h.Records, o.Restored.Pages)
	if o.Failure != nil {
		fmt.Printf("hv: the captured failure: %s at landmark %v\n", o.Failure.Reason, o.Failure.At)
	} else {
		fmt.Println("hv: the capture holds no failure (monitor capture): the replay runs to the end of its log")
	}
	fmt.Printf("hv: snapshots of the replay: %s\n", o.SnapWhy)
	if cfg.GDB != nil {
		fmt.Println("hv: debugger: gdb stub on COM2; the replay waits for it just before the failure")
	}
	v := o.Run()
	s := o.VM.Stats()
	fmt.Printf("hv: replay: %d landmarks, %d records replayed, %d asynchronous stops, %d digests matched, %d exits\n",
		s.Landmarks, s.Records, s.Stops, s.Digests, s.Exits)
	hash, bytes := o.VM.OutputHash()
	fmt.Printf("hv: replay output: %d bytes since the start, hash %#x\n", bytes, hash)
	fmt.Printf("hv: verdict: %s: %s\n", v.Kind, v.Reason)
	return int(v.Kind)
}
