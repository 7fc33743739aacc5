package capture

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strconv"

	"hindsight/hv/replay"
)

// Format constants.
const (
	// Magic opens every capture.
	Magic = "\x89HSC\r\n\x1a\n"
	// Version is the format version this package writes and reads.
	Version = 2
	// HeaderSize is the size of a version 1 and 2 header, its CRC included.
	HeaderSize = 1024
	// PageSize is the size of a guest page in the MEMORY section.
	PageSize = 4096
	// MaxCPUID is the number of entries of the header's CPUID table.
	MaxCPUID = 16
	// RecordSize is the size of an encoded log record (replay.RecordSize).
	RecordSize = replay.RecordSize

	// Text field sizes: longer strings are cut to them.
	KernelNameSize  = 64
	FailureTextSize = 128
	BuildIDSize     = 32

	maxChunk = 64 << 10
)

// Clock kinds, as hv.ClockKind numbers them.
const (
	ClockExit   = 0
	ClockSlice  = 1
	ClockBranch = 2
)

// ClockName returns "exit", "slice", "branch", or "clock(n)".
func ClockName(k uint8) string {
	switch k {
	case ClockExit:
		return "exit"
	case ClockSlice:
		return "slice"
	case ClockBranch:
		return "branch"
	}
	return "clock(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// CPUIDLeaf is one CPUID answer the guest saw.
type CPUIDLeaf struct {
	Leaf, Subleaf      uint32
	EAX, EBX, ECX, EDX uint32
}

// Digests are the three state digests of hv (replay.KindDigest's Value,
// Value2, Value3).
type Digests struct{ CPU, RAM, Devices uint64 }

// Header is a capture's header (see the package documentation for its
// layout). A Writer fills StateBytes itself; the rest is the caller's.
type Header struct {
	Version    uint16 // set by the writer; what a reader found
	GuestRAM   uint64 // bytes
	StateBytes uint64 // STATE payload length (the writer sets it)
	Records    uint64 // LOG records
	// FirstRecord is the log ordinal of the first LOG record (the how
	// many-th record of the primary's log it is, from 0).
	FirstRecord uint64
	Clock       uint8 // ClockExit, ClockSlice, ClockBranch

	// CPUID holds the CPUID answers the guest saw (at most MaxCPUID).
	CPUID []CPUIDLeaf

	// The snapshot: its landmark, the clock's total progress there, the
	// paging registers, the digests, the guest's output so far.
	Snap        replay.Landmark
	SnapTotal   uint64
	CR0, CR3    uint64
	CR4, EFER   uint64
	SnapDigests Digests
	OutputHash  uint64
	OutputBytes uint64

	// The failure: how the primary's guest ended, where, and one line.
	FailCause    replay.EndCause
	FailStatus   uint32
	FailAt       replay.Landmark
	FailText     string
	FinalDigests Digests // the primary's at the end

	// The guest image.
	ImageHash   uint64 // kernel + initrd + command line
	CmdlineHash uint64
	KernelName  string

	BuildID string // hindsight's build
}

// Header field offsets.
const (
	hVersion     = 8
	hSize        = 10
	hFlags       = 12
	hRAM         = 16
	hStateBytes  = 24
	hRecords     = 32
	hFirst       = 40
	hClock       = 48
	hNCPUID      = 49
	hSnapSeq     = 56
	hSnapCount   = 64
	hSnapRIP     = 72
	hSnapTotal   = 80
	hCR0         = 88
	hCR3         = 96
	hCR4         = 104
	hEFER        = 112
	hSnapDigests = 120
	hOutHash     = 144
	hOutBytes    = 152
	hFailCause   = 160
	hFailStatus  = 164
	hFailAt      = 168
	hFinal       = 192
	hImageHash   = 216
	hCmdlineHash = 224
	hKernelName  = 232
	hFailText    = 296
	hBuildID     = 424
	hCPUID       = 456
	hReserved    = hCPUID + MaxCPUID*24 // 840
	hCRC         = HeaderSize - 4
)

var (
	le         = binary.LittleEndian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func crc(c uint32, b []byte) uint32 { return crc32.Update(c, castagnoli, b) }

// encode writes h into b[:HeaderSize], CRC included. CPUID entries past
// MaxCPUID and text past its field are left out.
func (h *Header) encode(b []byte) {
	b = b[:HeaderSize]
	clear(b)
	copy(b, Magic)
	le.PutUint16(b[hVersion:], Version)
	le.PutUint16(b[hSize:], HeaderSize)
	u64 := func(off int, v uint64) { le.PutUint64(b[off:], v) }
	u64(hRAM, h.GuestRAM)
	u64(hStateBytes, h.StateBytes)
	u64(hRecords, h.Records)
	u64(hFirst, h.FirstRecord)
	b[hClock] = h.Clock
	n := min(len(h.CPUID), MaxCPUID)
	b[hNCPUID] = uint8(n)
	u64(hSnapSeq, h.Snap.Seq)
	u64(hSnapCount, h.Snap.Count)
	u64(hSnapRIP, h.Snap.RIP)
	u64(hSnapTotal, h.SnapTotal)
	u64(hCR0, h.CR0)
	u64(hCR3, h.CR3)
	u64(hCR4, h.CR4)
	u64(hEFER, h.EFER)
	putDigests(b[hSnapDigests:], h.SnapDigests)
	u64(hOutHash, h.OutputHash)
	u64(hOutBytes, h.OutputBytes)
	le.PutUint32(b[hFailCause:], uint32(h.FailCause))
	le.PutUint32(b[hFailStatus:], h.FailStatus)
	u64(hFailAt, h.FailAt.Seq)
	u64(hFailAt+8, h.FailAt.Count)
	u64(hFailAt+16, h.FailAt.RIP)
	putDigests(b[hFinal:], h.FinalDigests)
	u64(hImageHash, h.ImageHash)
	u64(hCmdlineHash, h.CmdlineHash)
	copy(b[hKernelName:hKernelName+KernelNameSize], h.KernelName)
	copy(b[hFailText:hFailText+FailureTextSize], h.FailText)
	copy(b[hBuildID:hBuildID+BuildIDSize], h.BuildID)
	for i, c := range h.CPUID[:n] {
		e := b[hCPUID+24*i:]
		le.PutUint32(e[0:], c.Leaf)
		le.PutUint32(e[4:], c.Subleaf)
		le.PutUint32(e[8:], c.EAX)
		le.PutUint32(e[12:], c.EBX)
		le.PutUint32(e[16:], c.ECX)
		le.PutUint32(e[20:], c.EDX)
	}
	le.PutUint32(b[hCRC:], crc(0, b[:hCRC]))
}

func putDigests(b []byte, d Digests) {
	le.PutUint64(b[0:], d.CPU)
	le.PutUint64(b[8:], d.RAM)
	le.PutUint64(b[16:], d.Devices)
}

func getDigests(b []byte) Digests {
	return Digests{le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:])}
}

// decode reads a version 1 header whose magic, version, size and CRC have
// been checked, and checks its fields.
func decodeHeader(b []byte) (*Header, error) {
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	h := &Header{
		Version:      le.Uint16(b[hVersion:]),
		GuestRAM:     u64(hRAM),
		StateBytes:   u64(hStateBytes),
		Records:      u64(hRecords),
		FirstRecord:  u64(hFirst),
		Clock:        b[hClock],
		Snap:         replay.Landmark{Seq: u64(hSnapSeq), Count: u64(hSnapCount), RIP: u64(hSnapRIP)},
		SnapTotal:    u64(hSnapTotal),
		CR0:          u64(hCR0),
		CR3:          u64(hCR3),
		CR4:          u64(hCR4),
		EFER:         u64(hEFER),
		SnapDigests:  getDigests(b[hSnapDigests:]),
		OutputHash:   u64(hOutHash),
		OutputBytes:  u64(hOutBytes),
		FailCause:    replay.EndCause(le.Uint32(b[hFailCause:])),
		FailStatus:   le.Uint32(b[hFailStatus:]),
		FailAt:       replay.Landmark{Seq: u64(hFailAt), Count: u64(hFailAt + 8), RIP: u64(hFailAt + 16)},
		FinalDigests: getDigests(b[hFinal:]),
		ImageHash:    u64(hImageHash),
		CmdlineHash:  u64(hCmdlineHash),
		KernelName:   cstring(b[hKernelName : hKernelName+KernelNameSize]),
		FailText:     cstring(b[hFailText : hFailText+FailureTextSize]),
		BuildID:      cstring(b[hBuildID : hBuildID+BuildIDSize]),
	}
	if f := le.Uint32(b[hFlags:]); f != 0 {
		return nil, newError(ErrMalformed, "header", hFlags, "flags 0x%x, must be 0", f)
	}
	if !allZero(b[hNCPUID+1 : hSnapSeq]) {
		return nil, newError(ErrMalformed, "header", hNCPUID+1, "reserved bytes 50-55 are not 0")
	}
	if !allZero(b[hReserved:hCRC]) {
		return nil, newError(ErrMalformed, "header", hReserved, "reserved bytes %d-%d are not 0", hReserved, hCRC-1)
	}
	n := int(b[hNCPUID])
	if n > MaxCPUID {
		return nil, newError(ErrMalformed, "header", hNCPUID, "%d CPUID entries, at most %d", n, MaxCPUID)
	}
	for i := range n {
		e := b[hCPUID+24*i:]
		h.CPUID = append(h.CPUID, CPUIDLeaf{
			Leaf: le.Uint32(e[0:]), Subleaf: le.Uint32(e[4:]),
			EAX: le.Uint32(e[8:]), EBX: le.Uint32(e[12:]), ECX: le.Uint32(e[16:]), EDX: le.Uint32(e[20:]),
		})
	}
	if !allZero(b[hCPUID+24*n : hReserved]) {
		return nil, newError(ErrMalformed, "header", int64(hCPUID+24*n), "unused CPUID entries are not 0")
	}
	if h.GuestRAM == 0 || h.GuestRAM%PageSize != 0 {
		return nil, newError(ErrMalformed, "header", hRAM, "guest RAM size %d is not a positive multiple of %d", h.GuestRAM, PageSize)
	}
	return h, nil
}

// MaxPhysAddr returns the guest's MAXPHYADDR from its CPUID leaf
// 0x80000008 (EAX[7:0]), or 0 if the header does not have the leaf.
func (h *Header) MaxPhysAddr() uint8 {
	if l, ok := h.Leaf(0x80000008, 0); ok {
		return uint8(l.EAX)
	}
	return 0
}

// Leaf returns the header's CPUID entry for leaf and subleaf.
func (h *Header) Leaf(leaf, subleaf uint32) (CPUIDLeaf, bool) {
	for _, l := range h.CPUID {
		if l.Leaf == leaf && l.Subleaf == subleaf {
			return l, true
		}
	}
	return CPUIDLeaf{}, false
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func allZero(b []byte) bool {
	// Eight bytes at a time: a capture looks at every page of guest RAM,
	// most of them zero, and in an emulator every instruction counts.
	for len(b) >= 8 {
		if le.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
