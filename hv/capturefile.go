package hv

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"hindsight/boot"
	"hindsight/hv/capture"
	"hindsight/hv/dev"
	"hindsight/hv/replay"
)

// Capture files (hv/capture has the format): a failure saved so that it
// replays anywhere. The backup writes its oldest snapshot (state and
// RAM), the log from that snapshot's position to the end of what the
// primary logged, and a header that says for which guest and machine it
// was made. An offline replay (offline.go) boots from one.

// captureLeaves are the CPUID leaves a capture records: what a guest
// learns of the processor's features. A replay on a machine whose
// hindsight answers them differently would let the guest take another
// path, so such a capture is refused there (capture.CheckCompat).
var captureLeaves = [...][2]uint32{
	{0, 0}, {1, 0}, {7, 0}, {0xD, 0}, {0xD, 1},
	{0x80000000, 0}, {0x80000001, 0}, {0x80000007, 0}, {0x80000008, 0},
}

// CPUIDFeatures returns the CPUID answers a guest of this machine sees
// for the leaves a capture records.
func (m *Machine) CPUIDFeatures() []capture.CPUIDLeaf {
	var l []capture.CPUIDLeaf
	for _, x := range captureLeaves {
		a, b, c, d := m.cpuid.lookup(x[0], x[1])
		l = append(l, capture.CPUIDLeaf{Leaf: x[0], Subleaf: x[1], EAX: a, EBX: b, ECX: c, EDX: d})
	}
	return l
}

// stateMagic opens a capture's STATE blob; stateVersion changes with the
// layout of vcpuState (its size, the VMCS fields it holds, the devices'
// layout), so that a capture made by another build is refused rather
// than misread.
const (
	stateMagic   = "HSSTATE\x00"
	stateVersion = 1
)

// stateHeader precedes the raw vcpuState in a STATE blob.
type stateHeader struct {
	Magic                        [8]byte
	Version, DevVersion          uint32
	Size, Fields, Swapped, Pages uint64
}

// encodeState returns the STATE blob of s.
func encodeState(s *vcpuState, pages uint64) []byte {
	h := stateHeader{Version: stateVersion, DevVersion: dev.StateVersion, Size: uint64(unsafe.Sizeof(*s)),
		Fields: uint64(snapFieldCount), Swapped: uint64(len(swapped)), Pages: pages}
	copy(h.Magic[:], stateMagic)
	b := make([]byte, 0, unsafe.Sizeof(h)+unsafe.Sizeof(*s))
	// Both are plain values (no pointers): their bytes are their state.
	b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))...)
	return append(b, unsafe.Slice((*byte)(unsafe.Pointer(s)), unsafe.Sizeof(*s))...)
}

// decodeState reads a STATE blob made by encodeState of this build.
func decodeState(b []byte, s *vcpuState) error {
	var h stateHeader
	if len(b) < int(unsafe.Sizeof(h)) {
		return fmt.Errorf("the machine state is %d bytes, too short for its header", len(b))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)), b)
	want := stateHeader{Version: stateVersion, DevVersion: dev.StateVersion, Size: uint64(unsafe.Sizeof(*s)),
		Fields: uint64(snapFieldCount), Swapped: uint64(len(swapped)), Pages: h.Pages}
	copy(want.Magic[:], stateMagic)
	if h != want {
		return fmt.Errorf("the machine state was written by another build of hindsight (state version %d, %d bytes, %d VMCS fields; this build: version %d, %d bytes, %d fields)",
			h.Version, h.Size, h.Fields, want.Version, want.Size, want.Fields)
	}
	if len(b) != int(unsafe.Sizeof(h)+unsafe.Sizeof(*s)) {
		return fmt.Errorf("the machine state is %d bytes, want %d", len(b), unsafe.Sizeof(h)+unsafe.Sizeof(*s))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(s)), unsafe.Sizeof(*s)), b[unsafe.Sizeof(h):])
	return nil
}

// CaptureReport is what writing a capture did.
type CaptureReport struct {
	Stats   capture.Stats
	Snap    replay.Landmark
	Records uint64
	Ticks   uint64 // TSC ticks it took (in Bochs: instructions)
}

// writeCapture writes a capture of v (a backup with snapshots, parked on
// its vCPU thread) to w: its oldest snapshot, the log from there on (its
// history, then what is still in the ring), and f, the primary's failure
// (nil for a capture on request). The guest image's identity comes from
// the VM's configuration.
func (v *VM) writeCapture(w io.Writer, f *Failure) (CaptureReport, error) {
	var rep CaptureReport
	s := v.snaps
	p, ok := v.in.(*replayer)
	if s == nil || !ok {
		return rep, errors.New("the backup takes no snapshots: a capture starts at one (snapshots=off, or no memory for them)")
	}
	if s.n == 0 {
		return rep, errors.New("the backup has no snapshot yet")
	}
	t0 := boot.TSC()
	if s.list[0].st.logPos < s.hist.Oldest() {
		return rep, fmt.Errorf("the oldest snapshot needs log record %d and the history keeps records from %d on", s.list[0].st.logPos, s.hist.Oldest())
	}
	snap := &s.list[0]
	st := &snap.st
	from, live := st.logPos, p.rd.Live()
	pending := p.rd.Pending()
	h := capture.Header{
		GuestRAM:    uint64(len(v.ram)),
		Records:     live - from + uint64(pending),
		FirstRecord: from,
		Clock:       uint8(v.cfg.Clock),
		CPUID:       v.m.CPUIDFeatures(),
		Snap:        replay.Landmark{Seq: st.seq, Count: st.count, RIP: st.vmcs[0]},
		SnapTotal:   st.total,
		CR0:         st.vmcs[snapCR0],
		CR3:         st.vmcs[snapCR3],
		CR4:         st.vmcs[snapCR4],
		EFER:        st.vmcs[snapEFER],
		OutputHash:  st.outHash,
		OutputBytes: st.outBytes,
		ImageHash:   v.cfg.Guest.Identity(),
		CmdlineHash: fnvString(v.cfg.Guest.Cmdline),
		KernelName:  v.cfg.Guest.Name,
		BuildID:     fmt.Sprintf("records v%d, state v%d", replay.LayoutVersion, stateVersion),
	}
	if f != nil {
		h.FailCause, h.FailStatus, h.FailAt, h.FailText = f.Cause, f.Status, f.At, f.Reason
	}
	// The primary's final digests, for the header: the last DIGEST of the
	// log, near its end.
	var rec replay.Record
	for i := 0; i < pending; i++ {
		if b, ok := p.rd.PendingRecord(i); ok && replay.Check(b, &rec) && rec.Kind == replay.KindDigest {
			h.FinalDigests = capture.Digests{CPU: rec.Value, RAM: rec.Value2, Devices: rec.Value3}
		}
	}
	at := s.pagesAt(0)
	cw := capture.NewWriter(w, &h)
	if err := cw.State(encodeState(st, uint64(len(at)))); err != nil {
		return rep, err
	}
	if err := cw.BeginMemory(); err != nil {
		return rep, err
	}
	for pfn, slot := range at {
		src := s.page(s.shadow, uint32(pfn))
		if slot >= 0 {
			src = s.page(s.pool, uint32(slot))
		}
		if err := cw.Page(uint64(pfn), (*[pageSize]byte)(src)); err != nil {
			return rep, err
		}
	}
	if err := cw.EndMemory(); err != nil {
		return rep, err
	}
	for pos := from; pos < live; pos++ {
		b, ok := s.hist.Encoded(pos)
		if !ok {
			return rep, fmt.Errorf("log record %d is no longer in the history", pos)
		}
		if err := cw.Records(b[:]); err != nil {
			return rep, err
		}
	}
	for i := 0; i < pending; i++ {
		b, ok := p.rd.PendingRecord(i)
		if !ok {
			return rep, fmt.Errorf("log record %d of the ring is gone", live+uint64(i))
		}
		if err := cw.Records(b); err != nil {
			return rep, err
		}
	}
	if err := cw.Close(); err != nil {
		return rep, err
	}
	return CaptureReport{Stats: cw.Stats(), Snap: h.Snap, Records: h.Records, Ticks: boot.TSC() - t0}, nil
}

// Indices of the snapshot's fields (snapField).
const (
	snapCR0 = 3
	snapCR3 = 4
	snapCR4 = 5
)

func fnvString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = mix(h, uint64(s[i]))
	}
	return h
}

// captureNow writes a capture to the debugger's capture line (vCPU
// thread, parked or in an event) and says what it wrote. With the
// primary's failure known it first waits, briefly, for the primary's last
// records (its final state and END follow the failure's notice).
func (d *debugger) captureNow(v *VM, f *Failure) (string, error) {
	if d.capture == nil {
		return "", errors.New("no capture line: boot with capture=com3 (make run CAPTURE=FILE)")
	}
	if f != nil {
		p := v.in.(*replayer)
		for i := 0; i < 200 && !p.log.Status(0).WriterClosed; i++ {
			idle(10e6)
		}
	}
	rep, err := v.writeCapture(d.capture, f)
	if err != nil {
		return "", fmt.Errorf("no capture written: %w", err)
	}
	st := rep.Stats
	return fmt.Sprintf("capture: %d bytes written (snapshot at %v; %d pages, %d of them zero and skipped, %d bytes compressed; %d bytes of log compressed to %d; %d log records) in %d TSC ticks\n",
		st.Size, rep.Snap, st.Pages, st.ZeroPages, st.MemoryStored, st.LogRaw, st.LogStored, rep.Records, rep.Ticks), nil
}
