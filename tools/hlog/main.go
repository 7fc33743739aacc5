// Command hlog reads hindsight capture files (hv/capture) and logs (a
// file of 64-byte records as hv/replay encodes them).
//
//	hlog FILE              summary: the header in words, the sections, the
//	                       records by kind, the failure
//	hlog -timeline FILE    one line per record: ordinal, landmark, kind,
//	                       its values in words, RIP
//	hlog -disas FILE       the timeline with each record's instruction,
//	                       read from the capture's memory through the
//	                       snapshot's page tables and disassembled
//	hlog -stats FILE       counts and shares by kind, landmarks, interrupts
//
// -disas translates RIPs with the paging registers of the snapshot: a
// record far after it may run under other page tables (another process)
// or code the guest has since loaded; a RIP that does not translate is
// said so on its line. The code size is taken from IA32_EFER.LMA (64-bit
// code in long mode; compatibility-mode code is shown as 64-bit) and CR0.PE.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"hindsight/hv/capture"
	"hindsight/hv/paging"
	"hindsight/hv/replay"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hlog:", err)
		os.Exit(1)
	}
}

type options struct {
	timeline, disas, stats bool
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hlog", flag.ContinueOnError)
	var o options
	fs.BoolVar(&o.timeline, "timeline", false, "one line per record")
	fs.BoolVar(&o.disas, "disas", false, "the timeline with each record's instruction disassembled (captures only)")
	fs.BoolVar(&o.stats, "stats", false, "counts and shares by kind, landmarks, interrupts")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hlog [-timeline | -disas | -stats] FILE (a capture, or a log of 64-byte records)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("one FILE please")
	}
	name := fs.Arg(0)
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	f, err := load(name, data, o.disas)
	if err != nil {
		return err
	}
	switch {
	case o.disas:
		if f.c == nil {
			return fmt.Errorf("%s is a log, not a capture: no memory to disassemble", name)
		}
		f.timeline(out, true)
	case o.timeline:
		f.timeline(out, false)
	case o.stats:
		f.stats(out)
	default:
		f.summary(out)
	}
	return nil
}

// file is a capture or a bare log, read.
type file struct {
	name  string
	size  int
	c     *capture.Capture // nil for a bare log
	recs  []replay.Record
	first uint64 // the first record's ordinal
	mem   pageMem
}

func load(name string, data []byte, withMemory bool) (*file, error) {
	f := &file{name: name, size: len(data)}
	var pages capture.PageFunc
	if withMemory {
		f.mem = pageMem{pages: map[uint64]*[capture.PageSize]byte{}}
		pages = func(pfn uint64, p *[capture.PageSize]byte) error {
			q := *p
			f.mem.pages[pfn] = &q
			return nil
		}
	}
	c, err := capture.Read(bytes.NewReader(data), pages)
	if errors.Is(err, capture.ErrNotCapture) && len(data) > 0 && len(data)%replay.RecordSize == 0 {
		// A bare log.
		for i := 0; i < len(data); i += replay.RecordSize {
			var r replay.Record
			if err := replay.Decode(data[i:], &r); err != nil {
				return nil, fmt.Errorf("%s: not a capture, and as a log: record %d (offset %d): %v", name, i/replay.RecordSize, i, err)
			}
			f.recs = append(f.recs, r)
		}
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.c, f.first = c, c.Header.FirstRecord
	f.mem.size = c.Header.GuestRAM
	for i := range c.NumRecords() {
		f.recs = append(f.recs, c.Record(i))
	}
	return f, nil
}

// summary prints the header in words, the sections, the records by kind
// and the failure.
func (f *file) summary(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	if f.c == nil {
		p("%s: a log of %d records (%d bytes), no capture header", f.name, len(f.recs), f.size)
		p("  records:  %s", byKind(f.recs))
		if n := len(f.recs); n > 0 {
			p("  from:     %v", f.recs[0].Landmark())
			p("  to:       %v", f.recs[n-1].Landmark())
		}
		return
	}
	h, s := f.c.Header, f.c.Stats
	p("%s: hindsight capture, format version %d, %d bytes", f.name, h.Version, f.size)
	p("  guest:     %s, %s of RAM, image hash %#016x, command line hash %#016x", orNone(h.KernelName), capture.SizeName(h.GuestRAM), h.ImageHash, h.CmdlineHash)
	p("  made by:   hindsight %s, %s clock", orNone(h.BuildID), capture.ClockName(h.Clock))
	p("  snapshot:  at %v, total progress %d, before log record %d", h.Snap, h.SnapTotal, h.FirstRecord)
	p("             %s: CR0=%#x CR3=%#x CR4=%#x EFER=%#x", regs(h).Mode(), h.CR0, h.CR3, h.CR4, h.EFER)
	p("             digests cpu=%#016x ram=%#016x devices=%#016x", h.SnapDigests.CPU, h.SnapDigests.RAM, h.SnapDigests.Devices)
	p("             guest output so far: %d bytes, hash %#016x", h.OutputBytes, h.OutputHash)
	p("  failure:   %s at %v", failure(h), h.FailAt)
	if h.FailText != "" {
		p("             %q", h.FailText)
	}
	p("             the primary's final digests cpu=%#016x ram=%#016x devices=%#016x", h.FinalDigests.CPU, h.FinalDigests.RAM, h.FinalDigests.Devices)
	if h.FailAt.Seq >= h.Snap.Seq {
		p("             %d exits after the snapshot", h.FailAt.Seq-h.Snap.Seq)
	}
	p("  CPUID:     %d leaves the guest saw", len(h.CPUID))
	for _, l := range h.CPUID {
		p("             leaf %#010x/%d: eax=%08x ebx=%08x ecx=%08x edx=%08x", l.Leaf, l.Subleaf, l.EAX, l.EBX, l.ECX, l.EDX)
	}
	p("  sections:  header %d bytes", capture.HeaderSize)
	p("             STATE  %d bytes of machine state", s.StateBytes)
	ratio := 0.0
	if s.MemoryStored > 0 {
		ratio = float64(s.MemoryRaw) / float64(s.MemoryStored)
	}
	p("             MEMORY %d non-zero pages of %d (%s), %d bytes compressed (ratio %.2f)",
		s.Pages, h.GuestRAM/capture.PageSize, capture.SizeName(s.Pages*capture.PageSize), s.MemoryStored, ratio)
	logRatio := 0.0
	if s.LogStored > 0 {
		logRatio = float64(s.LogRaw) / float64(s.LogStored)
	}
	p("             LOG    %d records (%d bytes), %d bytes compressed (ratio %.2f), log ordinals %d to %d",
		s.Records, s.LogRaw, s.LogStored, logRatio, h.FirstRecord, h.FirstRecord+s.Records-1)
	p("  records:   %s", byKind(f.recs))
	if n := len(f.recs); n > 0 {
		p("             from %v to %v", f.recs[0].Landmark(), f.recs[n-1].Landmark())
	}
}

func orNone(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

func failure(h *capture.Header) string {
	s := h.FailCause.String()
	if h.FailCause == replay.EndExitPort {
		s += fmt.Sprintf(" with status %d", h.FailStatus)
	}
	return s
}

func regs(h *capture.Header) *paging.Regs {
	return &paging.Regs{CR0: h.CR0, CR3: h.CR3, CR4: h.CR4, EFER: h.EFER, MaxPhysAddr: h.MaxPhysAddr()}
}

// byKind counts records by kind: "40: RDTSC 6, CLOCK 6, ...".
func byKind(recs []replay.Record) string {
	var n [256]int
	for _, r := range recs {
		n[r.Kind]++
	}
	parts := []string{fmt.Sprint(len(recs))}
	for k := range n {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%v %d", replay.Kind(k), n[k]))
		}
	}
	if len(parts) == 1 {
		return "none"
	}
	return parts[0] + ": " + strings.Join(parts[1:], ", ")
}

// words says a record's values in words.
func words(r *replay.Record) string {
	switch r.Kind {
	case replay.KindRDTSC:
		return fmt.Sprintf("TSC %#x returned to the guest", r.Value)
	case replay.KindClock:
		return fmt.Sprintf("devices advanced to time %d (PIT ticks)%s", r.Value, interrupts(r))
	case replay.KindSerialIn:
		return fmt.Sprintf("COM1 received byte %#02x %q%s", r.Value, rune(r.Value), interrupts(r))
	case replay.KindDigest:
		return fmt.Sprintf("digests cpu=%#016x ram=%#016x devices=%#016x", r.Value, r.Value2, r.Value3)
	case replay.KindProgress:
		return fmt.Sprintf("the primary got here at host time %.6fs", float64(r.Value)/1e9)
	case replay.KindEnd:
		c := replay.EndCause(r.Value2)
		s := "the guest ended: " + c.String()
		if c == replay.EndExitPort {
			s += fmt.Sprintf(", exit status %d", r.Value)
		}
		if c.Failure(r.Value) {
			s += " (a failure)"
		}
		return s
	case replay.KindPosition:
		return fmt.Sprintf("asynchronous stop, rcx=%#x, registers' fingerprint %#016x", r.Value, r.Value2)
	case replay.KindFinal:
		i := int(2 * r.Value)
		return fmt.Sprintf("final state %s=%#x %s=%#x", replay.FinalName(i), r.Value2, replay.FinalName(i+1), r.Value3)
	}
	return fmt.Sprintf("value=%#x value2=%#x value3=%#x", r.Value, r.Value2, r.Value3)
}

func interrupts(r *replay.Record) string {
	if r.Value2 == replay.Unrecorded && r.Value3 == replay.Unrecorded {
		return ""
	}
	return "; interrupt requested " + string(replay.AppendCode(nil, r.Value2)) + ", delivered " + string(replay.AppendCode(nil, r.Value3))
}

func landmark(r *replay.Record) string {
	if r.Count == 0 {
		return fmt.Sprintf("#%d", r.Seq)
	}
	return fmt.Sprintf("#%d+%d", r.Seq, r.Count)
}

// timeline prints one line per record, with its instruction if disas.
func (f *file) timeline(w io.Writer, disas bool) {
	var r *paging.Regs
	bits := 64
	if disas {
		h := f.c.Header
		r = regs(h)
		switch {
		case h.EFER&(1<<10) != 0: // LMA
		case h.CR0&1 != 0: // PE
			bits = 32
		default:
			bits = 16
		}
		fmt.Fprintf(w, "# instructions read through the snapshot's page tables (%s, CR3=%#x), decoded as %d-bit code\n", r.Mode(), h.CR3, bits)
	}
	for i := range f.recs {
		rec := &f.recs[i]
		line := fmt.Sprintf("%8d  %-16s %-9v rip=%#-18x %s", f.first+uint64(i), landmark(rec), rec.Kind, rec.RIP, words(rec))
		if disas {
			line += "\n          " + disassemble(&f.mem, r, bits, rec.RIP)
		}
		fmt.Fprintln(w, line)
	}
}

// disassemble reads and decodes the instruction at virtual address rip.
func disassemble(mem paging.Memory, r *paging.Regs, bits int, rip uint64) string {
	code := make([]byte, 15)
	n, err := paging.ReadVirtual(mem, r, rip, code)
	if n == 0 {
		return fmt.Sprintf("| rip %#x does not translate: %v", rip, err)
	}
	inst, derr := x86asm.Decode(code[:n], bits)
	if derr != nil {
		if err != nil {
			return fmt.Sprintf("| (% x) does not decode (%v; the next page does not translate: %v)", code[:n], derr, err)
		}
		return fmt.Sprintf("| (% x) does not decode: %v", code[:n], derr)
	}
	return fmt.Sprintf("| %-40s (% x)", x86asm.IntelSyntax(inst, rip, nil), code[:inst.Len])
}

// stats prints counts and shares by kind, landmarks, interrupts.
func (f *file) stats(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	n := len(f.recs)
	p("%s: %d records", f.name, n)
	if n == 0 {
		return
	}
	var kinds [256]int
	type lm struct{ seq, count uint64 }
	landmarks := map[lm]int{}
	async := map[lm]bool{}
	vectors := map[uint64]int{}
	rips := map[uint64]int{}
	for i := range f.recs {
		r := &f.recs[i]
		kinds[r.Kind]++
		l := lm{r.Seq, r.Count}
		landmarks[l]++
		if r.Count > 0 {
			async[l] = true
		}
		if r.Kind.IsInput() && r.Value3 != replay.Unrecorded && r.Value3 != replay.NoVector {
			vectors[r.Value3&0xff]++
		}
		rips[r.RIP]++
	}
	p("  by kind:")
	for k := range kinds {
		if kinds[k] > 0 {
			p("    %-9v %8d  %5.1f%%", replay.Kind(k), kinds[k], 100*float64(kinds[k])/float64(n))
		}
	}
	first, last := f.recs[0], f.recs[n-1]
	span := last.Seq - first.Seq
	p("  landmarks: %d with records (%d synchronous exits, %d asynchronous stops), %.2f records per landmark",
		len(landmarks), len(landmarks)-len(async), len(async), float64(n)/float64(len(landmarks)))
	p("  exits:     #%d to #%d: %d exits, %.2f records per 100 exits", first.Seq, last.Seq, span, 100*float64(n)/float64(max(span, 1)))
	if len(vectors) > 0 {
		var vs []uint64
		for v := range vectors {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
		var parts []string
		for _, v := range vs {
			parts = append(parts, fmt.Sprintf("vector %#x %d", v, vectors[v]))
		}
		p("  interrupts delivered: %s", strings.Join(parts, ", "))
	}
	type ripN struct {
		rip uint64
		n   int
	}
	var top []ripN
	for r, k := range rips {
		top = append(top, ripN{r, k})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || top[i].n == top[j].n && top[i].rip < top[j].rip })
	p("  RIPs:      %d distinct; most records at:", len(top))
	for _, t := range top[:min(5, len(top))] {
		p("    %#-18x %8d  %5.1f%%", t.rip, t.n, 100*float64(t.n)/float64(n))
	}
}

// pageMem is the capture's memory: the pages it holds; the rest of guest
// RAM is zero.
type pageMem struct {
	pages map[uint64]*[capture.PageSize]byte
	size  uint64
}

func (m *pageMem) Uint64(gpa uint64) (uint64, bool) {
	var b [8]byte
	if n, _ := m.Read(gpa, b[:]); n < 8 {
		return 0, false
	}
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56, true
}

func (m *pageMem) Read(gpa uint64, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		a := gpa + uint64(n)
		if a >= m.size {
			return n, &paging.OutsideRAMError{GPA: a, Size: m.size}
		}
		off := a % capture.PageSize
		k := min(uint64(len(dst)-n), capture.PageSize-off)
		if p := m.pages[a/capture.PageSize]; p != nil {
			copy(dst[n:], p[off:off+k])
		} else {
			clear(dst[n : n+int(k)])
		}
		n += int(k)
	}
	return n, nil
}
