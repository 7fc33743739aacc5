package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// Layout constants (see the package documentation).
const (
	// RecordSize is the size of an encoded record in bytes: a power of two,
	// so it is a valid ring record size.
	RecordSize = 64

	// LayoutVersion is the version of the record layout described in the
	// package documentation. Any change to it, including giving meaning to
	// reserved bytes or adding a kind, bumps this number.
	LayoutVersion = 4
)

// Interrupt codes, in Value2 and Value3 of the input records (KindClock,
// KindSerialIn).
const (
	// Unrecorded: the primary did not record the outcome (the record went
	// to the log before the landmark's injection was decided); nothing to
	// check. Both codes are Unrecorded or neither is.
	Unrecorded = 0
	// NoVector: no interrupt.
	NoVector = 0x100
	// Interrupt vector v is VectorCode(v) = 0x200 + v.
	vectorBase = 0x200
)

// VectorCode is the code of interrupt vector vec.
func VectorCode(vec uint8) uint64 { return vectorBase | uint64(vec) }

// validCode reports whether c is Unrecorded, NoVector or a VectorCode.
func validCode(c uint64) bool { return c == Unrecorded || c == NoVector || c>>8 == vectorBase>>8 }

// Byte offsets of the fields of an encoded record.
const (
	offKind     = 0
	offReserved = 1 // bytes 1-3
	offCRC      = 4
	offSeq      = 8
	offRIP      = 16
	offCount    = 24
	offValue    = 32
	offValue2   = 40
	offValue3   = 48
	offCheck    = 56
)

// Kind says what a record is. The zero Kind is invalid, so that a zeroed
// (never written) record never decodes.
type Kind uint8

// The record kinds of layout version 4.
const (
	// KindRDTSC: Value is the TSC value the primary returned to the guest.
	// Only at a synchronous exit (Count 0).
	KindRDTSC Kind = 1
	// KindClock: Value is the device time (PIT input-clock ticks since the
	// VM started) the primary's devices were advanced to at this landmark:
	// before an access to a time-dependent port, or because a device's
	// interrupt fell due. The backup advances its devices to the same
	// time, so their state, what the guest reads from them and the
	// interrupts they raise are the primary's. Value2 and Value3: the
	// landmark's interrupt outcome (see below).
	KindClock Kind = 2
	// KindSerialIn: Value is one byte (0-255) received on the guest's COM1
	// at this landmark; Value2 and Value3 as for KindClock.
	KindSerialIn Kind = 3
	// KindDigest: the primary's state digest at this landmark. Value is
	// the digest of the vCPU state, Value2 of guest RAM, Value3 of the
	// device models and the guest's serial output so far.
	KindDigest Kind = 4
	// KindProgress: no event; the primary has reached this landmark, which
	// lets the backup run up to it when nothing else was logged. Value is
	// the primary's host time in nanoseconds at that point.
	KindProgress Kind = 5
	// KindEnd: the primary's guest ended at this landmark. Value is the
	// guest's exit status (EndExitPort) or 0, Value2 the EndCause.
	KindEnd Kind = 6
	// KindPosition: the landmark is an asynchronous stop (Count > 0): the
	// primary took an input there. Value is the guest's RCX (the iteration
	// inside a REP string instruction), Value2 a fingerprint of its
	// registers. Every record of the landmark follows it.
	KindPosition Kind = 7
	// KindFinal: part of the primary's final state, logged before its END
	// record (FinalState): Value is the index i of the pair of state words
	// (0 to FinalRecords-1), Value2 and Value3 are words 2i and 2i+1.
	KindFinal Kind = 8

	maxKind = KindFinal
)

var kindNames = [...]string{
	KindRDTSC:    "RDTSC",
	KindClock:    "CLOCK",
	KindSerialIn: "SERIALIN",
	KindDigest:   "DIGEST",
	KindProgress: "PROGRESS",
	KindEnd:      "END",
	KindPosition: "POSITION",
	KindFinal:    "FINAL",
}

// Valid reports whether k is a kind of this layout version.
func (k Kind) Valid() bool { return k >= 1 && k <= maxKind }

// String returns the kind's name ("RDTSC", "CLOCK", ...), or "Kind(n)" for
// an invalid kind.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind named s, case-insensitively ("clock", "RDTSC").
func ParseKind(s string) (Kind, bool) {
	for k := Kind(1); k <= maxKind; k++ {
		if strings.EqualFold(s, kindNames[k]) {
			return k, true
		}
	}
	return 0, false
}

// IsInput reports whether records of kind k change the guest's devices
// (KindClock, KindSerialIn): they carry the landmark's interrupt outcome
// in Value2 and Value3.
func (k Kind) IsInput() bool { return k == KindClock || k == KindSerialIn }

// EndCause says how a guest ended (KindEnd's Value2).
type EndCause uint8

const (
	EndExitPort    EndCause = 1 // the guest wrote its exit status to the exit port
	EndTripleFault EndCause = 2 // triple fault (VM exit reason 2)
	EndHalted      EndCause = 3 // HLT with nothing that could ever wake it
	EndUnhandled   EndCause = 4 // an exit the hypervisor does not handle (EPT violation, unsupported instruction, ...)
	EndEntryFailed EndCause = 5 // VM entry failed (invalid guest state, controls, ...)
	EndStopped     EndCause = 6 // the host stopped it
	EndPanic       EndCause = 7 // the guest's console printed "Kernel panic - not syncing" (the OUT that completed the line)

	maxEndCause = EndPanic
)

var endCauseNames = [...]string{
	EndExitPort:    "exit port",
	EndTripleFault: "triple fault",
	EndHalted:      "halted",
	EndUnhandled:   "unhandled exit",
	EndEntryFailed: "VM entry failed",
	EndStopped:     "stopped by the host",
	EndPanic:       "kernel panic",
}

// Valid reports whether c is a known end cause.
func (c EndCause) Valid() bool { return c >= 1 && c <= maxEndCause }

// Failure reports whether an end with this cause and exit status is a
// failure of the guest, the end a debugger wants to walk into: a triple
// fault, a non-zero exit status, a kernel panic, an exit the hypervisor
// does not handle, a VM entry that failed. A zero exit status, a guest
// that halted for good and a stop by the host are not.
func (c EndCause) Failure(status uint64) bool {
	switch c {
	case EndExitPort:
		return status != 0
	case EndTripleFault, EndUnhandled, EndEntryFailed, EndPanic:
		return true
	}
	return false
}

func (c EndCause) String() string {
	if c.Valid() {
		return endCauseNames[c]
	}
	return "EndCause(" + strconv.Itoa(int(c)) + ")"
}

// Record is one decoded log record. It holds no pointers; its encoded form
// is RecordSize bytes (see the package documentation for the layout and
// the meaning of each field per kind).
type Record struct {
	Kind Kind

	// The landmark: Seq counts the guest's synchronous VM exits so far,
	// this one included; Count is the guest's progress since exit Seq on
	// the platform's counter (0 at the synchronous exit itself); RIP is
	// the guest RIP there.
	Seq, Count, RIP uint64

	// The payload, by kind.
	Value, Value2, Value3 uint64
}

// castagnoli is the CRC-32C table, made once at package initialization so
// that the hot paths only read it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func init() {
	// crc32.Update initializes the IEEE tables (a sync.Once) on its first
	// call whatever the table; do it here rather than in VM-exit context.
	crc32.Update(0, castagnoli, nil)
}

var le = binary.LittleEndian

// checksum is the CRC-32C of bytes 0-3 and 8-63 of an encoded record.
// Every record logged or replayed pays for it, so where the CPU has SSE4.2
// it is eight CRC32 instructions (checksum_amd64.s); hash/crc32 is the
// reference and the fallback.
func checksumTable(b *[RecordSize]byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:offCRC])
	return crc32.Update(c, castagnoli, b[offSeq:])
}

// Encode writes r into b[:RecordSize] in the layout of the package
// documentation, including the CRC, with the reserved bytes zero. It does
// not validate r (see [Record.Validate]). Encode does not allocate; it
// panics if len(b) < RecordSize.
func (r *Record) Encode(b []byte) {
	r.encode((*[RecordSize]byte)(b))
	seal((*[RecordSize]byte)(b))
}

// encode is Encode into a whole record without the CRC: constant offsets
// into an array, so no bounds checks, and it inlines (the primary's log
// path).
func (r *Record) encode(b *[RecordSize]byte) {
	le.PutUint64(b[offKind:], uint64(r.Kind)) // the kind, then the reserved bytes and the CRC's place zero
	le.PutUint64(b[offSeq:], r.Seq)
	le.PutUint64(b[offRIP:], r.RIP)
	le.PutUint64(b[offCount:], r.Count)
	le.PutUint64(b[offValue:], r.Value)
	le.PutUint64(b[offValue2:], r.Value2)
	le.PutUint64(b[offValue3:], r.Value3)
	le.PutUint64(b[offCheck:], 0)
}

// seal computes an encoded record's CRC.
func seal(b *[RecordSize]byte) { le.PutUint32(b[offCRC:], checksum(b)) }

// Decode reads the record in b[:RecordSize] into r and validates it: the
// length, the CRC, the reserved bytes, then the fields as
// [Record.Validate] does. Bytes past RecordSize are ignored. On error r is
// left unchanged and the error is a [*DecodeError] naming the first bad
// field (errors.Is(err, ErrMalformed) holds). Decode does not allocate
// when the record is valid.
func Decode(b []byte, r *Record) error {
	if Check(b, r) {
		return nil
	}
	if len(b) < RecordSize {
		return malformed("length", 0, uint64(len(b)), RecordSize,
			"short record: %d bytes, want %d", len(b), RecordSize)
	}
	b = b[:RecordSize]
	stored := le.Uint32(b[offCRC:])
	if computed := checksum((*[RecordSize]byte)(b)); stored != computed {
		return crcError(b, stored, computed)
	}
	k := Kind(b[offKind])
	if res := uint64(b[offReserved]) | uint64(b[offReserved+1])<<8 | uint64(b[offReserved+2])<<16; res != 0 {
		return malformed("Reserved", k, res, 0, "%v: reserved bytes 1-3 hold 0x%x, must be 0", k, res)
	}
	if res := le.Uint64(b[offCheck:]); res != 0 {
		return malformed("Reserved", k, res, 0, "%v: reserved field 0x%x, must be 0", k, res)
	}
	d := unpack(b)
	return d.Validate()
}

// Check is Decode without the explanation: it reports whether
// b[:RecordSize] is a valid record and, if so, reads it into r. It never
// allocates, so the replaying vCPU can call it in VM-exit context.
func Check(b []byte, r *Record) bool {
	if len(b) < RecordSize {
		return false
	}
	b = b[:RecordSize]
	if le.Uint32(b[offCRC:]) != checksum((*[RecordSize]byte)(b)) || le.Uint32(b[offKind:])>>8 != 0 || le.Uint64(b[offCheck:]) != 0 {
		return false
	}
	d := unpack(b)
	if d.broken() != ruleNone {
		return false
	}
	*r = d
	return true
}

func unpack(b []byte) Record {
	return Record{
		Kind:   Kind(b[offKind]),
		Seq:    le.Uint64(b[offSeq:]),
		RIP:    le.Uint64(b[offRIP:]),
		Count:  le.Uint64(b[offCount:]),
		Value:  le.Uint64(b[offValue:]),
		Value2: le.Uint64(b[offValue2:]),
		Value3: le.Uint64(b[offValue3:]),
	}
}

// crcError describes a CRC mismatch; an all-zero record (an unwritten ring
// slot) is reported as such rather than as a bad CRC.
func crcError(b []byte, stored, computed uint32) error {
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return malformed("Kind", 0, 0, 0, "zeroed record (kind 0): an unwritten slot")
	}
	return malformed("CRC", Kind(b[offKind]), uint64(stored), uint64(computed),
		"bad CRC (stored 0x%08x, computed 0x%08x)", stored, computed)
}

// Validate checks the fields of r against the rules of its kind (all but
// the CRC and the reserved bytes, which only exist encoded): a known kind;
// Count 0 for KindRDTSC and not 0 for KindPosition; a KindSerialIn byte
// <= 255; valid interrupt codes in the input kinds, Unrecorded in both or
// neither; a known EndCause; Value2 and Value3 0 where the kind gives them
// no meaning. The error is a [*DecodeError]. Validate does not allocate
// when r is valid.
func (r *Record) Validate() error {
	k := r.Kind
	switch r.broken() {
	case ruleKind:
		if k == 0 {
			return malformed("Kind", k, 0, 0, "kind 0 (invalid: a zeroed record)")
		}
		return malformed("Kind", k, uint64(k), 0, "unknown kind %d", uint8(k))
	case ruleCount:
		if k == KindPosition {
			return malformed("Count", k, 0, 1, "%v: count 0, an asynchronous stop lies after the exit (count >= 1)", k)
		}
		return malformed("Count", k, r.Count, 0, "%v: count %d, must be 0 (only at a synchronous exit)", k, r.Count)
	case ruleValue:
		if k == KindFinal {
			return malformed("Value", k, r.Value, FinalRecords-1, "%v: index %d, must be < %d", k, r.Value, FinalRecords)
		}
		return malformed("Value", k, r.Value, 255, "%v: byte 0x%x, must be <= 0xff", k, r.Value)
	case ruleValue2:
		switch {
		case k.IsInput():
			return malformed("Value2", k, r.Value2, 0x2ff,
				"%v: requested interrupt 0x%x, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector", k, r.Value2)
		case k == KindEnd:
			return malformed("Value2", k, r.Value2, uint64(maxEndCause), "%v: end cause %d, must be 1-%d", k, r.Value2, maxEndCause)
		}
		return malformed("Value2", k, r.Value2, 0,
			"%v: Value2 0x%x, must be 0 unless CLOCK, SERIALIN, DIGEST, END, POSITION or FINAL", k, r.Value2)
	case ruleValue3:
		if k.IsInput() && !validCode(r.Value3) {
			return malformed("Value3", k, r.Value3, 0x2ff,
				"%v: delivered interrupt 0x%x, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector", k, r.Value3)
		}
		if k.IsInput() {
			return malformed("Value3", k, r.Value3, 0,
				"%v: delivered interrupt 0x%x with requested 0x%x: both or neither must be 0 (unrecorded)", k, r.Value3, r.Value2)
		}
		return malformed("Value3", k, r.Value3, 0,
			"%v: Value3 0x%x, must be 0 unless CLOCK, SERIALIN, DIGEST or FINAL", k, r.Value3)
	}
	return nil
}

// rule names the first field rule a record breaks (ruleNone: none). The
// rules are stated once, here; Validate turns a broken one into an error.
type rule uint8

const (
	ruleNone rule = iota
	ruleKind
	ruleCount
	ruleValue
	ruleValue2
	ruleValue3
)

func (r *Record) broken() rule {
	k := r.Kind
	uses2 := k.IsInput() || k == KindDigest || k == KindEnd || k == KindPosition || k == KindFinal
	uses3 := k.IsInput() || k == KindDigest || k == KindFinal
	switch {
	case !k.Valid():
		return ruleKind
	case k == KindRDTSC && r.Count != 0, k == KindPosition && r.Count == 0:
		return ruleCount
	case k == KindSerialIn && r.Value > 255, k == KindFinal && r.Value >= FinalRecords:
		return ruleValue
	case k.IsInput() && !validCode(r.Value2),
		k == KindEnd && (r.Value2 == 0 || r.Value2 > uint64(maxEndCause)),
		!uses2 && r.Value2 != 0:
		return ruleValue2
	case k.IsInput() && (!validCode(r.Value3) || (r.Value2 == Unrecorded) != (r.Value3 == Unrecorded)),
		!uses3 && r.Value3 != 0:
		return ruleValue3
	}
	return ruleNone
}

// ErrMalformed is matched (errors.Is) by every [*DecodeError]: a record
// that is not in the documented layout.
var ErrMalformed = errors.New("replay: malformed record")

// DecodeError reports a malformed record by its first bad field.
type DecodeError struct {
	// Field names the bad field: "length", "CRC", "Reserved", "Kind",
	// "Count", "Value", "Value2", "Value3".
	Field string
	// Kind is the record's kind byte as stored.
	Kind Kind
	// Got is the value found. For "CRC" it is the stored CRC.
	Got uint64
	// Want is the value wanted, or the bound that Got exceeds: the computed
	// CRC for "CRC", RecordSize for "length", the largest valid value for
	// a range check, 0 for a field that must be 0 or has no single right
	// value.
	Want uint64
	// Msg is the human-readable description, without the "replay: record: "
	// prefix of Error.
	Msg string
}

func malformed(field string, k Kind, got, want uint64, format string, args ...any) *DecodeError {
	return &DecodeError{Field: field, Kind: k, Got: got, Want: want, Msg: fmt.Sprintf(format, args...)}
}

// Error returns "replay: record: " and Msg.
func (e *DecodeError) Error() string { return "replay: record: " + e.Msg }

// Unwrap returns ErrMalformed.
func (e *DecodeError) Unwrap() error { return ErrMalformed }

// String returns one line for reports and the log tool: the landmark, the
// kind and the payload, e.g.
//
//	#1234 rip=0x100034 RDTSC value=0x2f1a00c4
//	#77+1205 rip=0xfff0 POSITION rcx=0x10 regs=0x9a1f...
func (r Record) String() string {
	b := make([]byte, 0, 112)
	b = r.Landmark().append(b)
	b = append(b, ' ')
	b = append(b, r.Kind.String()...)
	switch r.Kind {
	case KindRDTSC:
		b = appendHex(b, " value=", r.Value)
	case KindClock:
		b = append(b, " time="...)
		b = strconv.AppendUint(b, r.Value, 10)
		b = appendInterrupts(b, r)
	case KindSerialIn:
		b = appendHex(b, " byte=", r.Value)
		if r.Value <= 0xff {
			b = append(b, ' ')
			b = strconv.AppendQuoteRuneToASCII(b, rune(r.Value))
		}
		b = appendInterrupts(b, r)
	case KindDigest:
		b = appendHex(b, " cpu=", r.Value)
		b = appendHex(b, " ram=", r.Value2)
		b = appendHex(b, " devices=", r.Value3)
	case KindProgress:
		b = append(b, " host="...)
		b = strconv.AppendUint(b, r.Value, 10)
		b = append(b, "ns"...)
	case KindEnd:
		b = append(b, " cause="...)
		b = append(b, EndCause(r.Value2).String()...)
		b = append(b, " status="...)
		b = strconv.AppendUint(b, r.Value, 10)
	case KindPosition:
		b = appendHex(b, " rcx=", r.Value)
		b = appendHex(b, " regs=", r.Value2)
	case KindFinal:
		i := 2 * r.Value
		b = append(b, ' ')
		b = append(b, FinalName(int(i))...)
		b = appendHex(b, "=", r.Value2)
		b = append(b, ' ')
		b = append(b, FinalName(int(i+1))...)
		b = appendHex(b, "=", r.Value3)
	default:
		b = appendHex(b, " value=", r.Value)
		b = appendHex(b, " value2=", r.Value2)
		b = appendHex(b, " value3=", r.Value3)
	}
	return string(b)
}

// appendInterrupts appends the requested and delivered interrupts of an
// input record, where recorded.
func appendInterrupts(b []byte, r Record) []byte {
	if r.Value2 == Unrecorded && r.Value3 == Unrecorded {
		return b
	}
	b = append(b, " requested="...)
	b = AppendCode(b, r.Value2)
	b = append(b, " delivered="...)
	return AppendCode(b, r.Value3)
}

// AppendCode appends an interrupt code as "none", "vector 0x20",
// "unrecorded", or, for a code that is none of them, "code 0x...".
func AppendCode(b []byte, c uint64) []byte {
	switch {
	case c == NoVector:
		return append(b, "none"...)
	case c == Unrecorded:
		return append(b, "unrecorded"...)
	case validCode(c):
		return appendHex(b, "vector ", c&0xff)
	}
	return appendHex(b, "code ", c)
}

func appendHex(b []byte, label string, v uint64) []byte {
	b = append(b, label...)
	b = append(b, "0x"...)
	return strconv.AppendUint(b, v, 16)
}

// Landmark is a point in the guest's execution that both replicas compute
// the same way: the count of synchronous VM exits so far (this one
// included), the guest's progress since that exit on the platform's
// counter, and the guest RIP there.
type Landmark struct{ Seq, Count, RIP uint64 }

// Landmark returns the record's landmark.
func (r *Record) Landmark() Landmark {
	return Landmark{Seq: r.Seq, Count: r.Count, RIP: r.RIP}
}

// Before reports whether a comes before b in the guest's execution, which
// (Seq, Count) decides: two landmarks with the same Seq and Count are the
// same point, and a RIP that differs there is a divergence for the replay
// engine to report, not an order.
func (a Landmark) Before(b Landmark) bool {
	return a.Seq < b.Seq || a.Seq == b.Seq && a.Count < b.Count
}

// String returns "#seq rip=0x...", or "#seq+count rip=0x..." for an
// asynchronous stop.
func (a Landmark) String() string { return string(a.append(make([]byte, 0, 48))) }

func (a Landmark) append(b []byte) []byte {
	b = append(b, '#')
	b = strconv.AppendUint(b, a.Seq, 10)
	if a.Count != 0 {
		b = append(b, '+')
		b = strconv.AppendUint(b, a.Count, 10)
	}
	return appendHex(b, " rip=", a.RIP)
}
