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
	// so it is a valid ring record size (ringbuf.Create(mem, RecordSize, ...)).
	RecordSize = 64

	// LayoutVersion is the version of the record layout described in the
	// package documentation. Any change to it, including giving meaning to
	// reserved bytes or adding a kind, bumps this number.
	LayoutVersion = 2
)

// Interrupt codes, in Value2 and Value3 of KindIRQ and KindSerialIn.
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

// CarriesInterrupts reports whether records of kind k carry interrupt
// codes in Value2 and Value3: the inputs that raise a line on the guest's
// PIC (KindIRQ, KindSerialIn).
func (k Kind) CarriesInterrupts() bool { return k == KindIRQ || k == KindSerialIn }

// validCode reports whether c is Unrecorded, NoVector or a VectorCode.
func validCode(c uint64) bool { return c == Unrecorded || c == NoVector || c>>8 == vectorBase>>8 }

// Byte offsets of the fields of an encoded record.
const (
	offKind     = 0
	offSize     = 1
	offPort     = 2
	offCRC      = 4
	offSeq      = 8
	offRIP      = 16
	offBranches = 24
	offValue    = 32
	offValue2   = 40
	offValue3   = 48
	offReserved = 56
)

// Kind says what a record is. The zero Kind is invalid, so that a zeroed
// (never written) record never decodes.
type Kind uint8

// The record kinds of layout version 2.
const (
	// KindRDTSC: Value is the TSC value the primary returned to the guest.
	KindRDTSC Kind = 1
	// KindPortIn: Value is the result of a port read that depends on the
	// outside world (a PIT counter read, a real RTC); Port and Size are the
	// access (Size 1, 2 or 4), and Value fits in Size bytes.
	KindPortIn Kind = 2
	// KindIRQ: Value is the interrupt line (0-15) the primary raised on the
	// guest's PIC at this landmark (the timer tick is line 0). Value2 is
	// the interrupt the PIC requested once the landmark's inputs were
	// applied and Value3 the one the guest was given at the VM entry that
	// followed, as codes (NoVector or VectorCode). The backup runs the same
	// injection logic and checks that it comes to the same two answers.
	KindIRQ Kind = 3
	// KindSerialIn: Value is one byte (0-255) received on the guest's COM1
	// at this landmark; Value2 and Value3 as for KindIRQ.
	KindSerialIn Kind = 4
	// KindDigest: the primary's state digest at this landmark. Value is the
	// digest of the vCPU registers, Value2 of guest RAM, Value3 the hash of
	// the guest's serial output so far.
	KindDigest Kind = 5
	// KindProgress: no event; the primary has reached this landmark, which
	// lets the backup run up to it when nothing else was logged. Value is
	// the primary's host time in nanoseconds at that point.
	KindProgress Kind = 6
	// KindEnd: the primary's guest ended at this landmark; Value is its exit
	// status.
	KindEnd Kind = 7

	maxKind = KindEnd
)

var kindNames = [...]string{
	KindRDTSC:    "RDTSC",
	KindPortIn:   "PORTIN",
	KindIRQ:      "IRQ",
	KindSerialIn: "SERIALIN",
	KindDigest:   "DIGEST",
	KindProgress: "PROGRESS",
	KindEnd:      "END",
}

// Valid reports whether k is a kind of this layout version.
func (k Kind) Valid() bool { return k >= 1 && k <= maxKind }

// String returns the kind's name ("RDTSC", "PORTIN", "IRQ", "SERIALIN",
// "DIGEST", "PROGRESS", "END"), or "Kind(n)" for an invalid kind.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind named s, case-insensitively ("irq", "RDTSC").
func ParseKind(s string) (Kind, bool) {
	for k := Kind(1); k <= maxKind; k++ {
		if strings.EqualFold(s, kindNames[k]) {
			return k, true
		}
	}
	return 0, false
}

// Record is one decoded log record. It holds no pointers; its encoded form
// is RecordSize bytes (see the package documentation for the layout and
// the meaning of each field per kind).
type Record struct {
	Kind Kind
	Size uint8  // port access size (1, 2 or 4) for KindPortIn, else 0
	Port uint16 // port for KindPortIn, else 0

	// The landmark: Seq counts the guest's synchronous VM exits so far,
	// this one included; RIP is the guest RIP at that exit; Branches is
	// the retired-branch count there where a PMU exists, else 0.
	Seq, RIP, Branches uint64

	// The payload, by kind.
	Value, Value2, Value3 uint64
}

// castagnoli is the CRC-32C table, made once at package initialization so
// that the hot paths only read it. crc32.MakeTable(crc32.Castagnoli) also
// selects the SSE4.2 implementation where the CPU has it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func init() {
	// crc32.Update initializes the IEEE tables (a sync.Once) on its first
	// call whatever the table; do it here rather than in VM-exit context.
	crc32.Update(0, castagnoli, nil)
}

var le = binary.LittleEndian

// checksum is the CRC-32C of bytes 0-3 and 8-63 of an encoded record
// (the 60 bytes other than the CRC field, in order). b has RecordSize bytes.
// Every record logged or replayed pays for it, so where the CPU has SSE4.2
// it is eight CRC32 instructions (checksum_amd64.s); hash/crc32 is the
// reference and the fallback.
func checksum(b []byte) uint32 {
	if haveCRC32Insn {
		return checksumInsn((*[RecordSize]byte)(b))
	}
	return checksumTable(b)
}

func checksumTable(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:offCRC])
	return crc32.Update(c, castagnoli, b[offSeq:RecordSize])
}

// Encode writes r into b[:RecordSize] in the layout of the package
// documentation, including the CRC, and zeroes the reserved field. It does
// not validate r (see [Record.Validate]): a record Decode would reject is
// encoded as it is. Encode does not allocate; it panics if len(b) <
// RecordSize.
func (r *Record) Encode(b []byte) {
	b = b[:RecordSize]
	b[offKind] = byte(r.Kind)
	b[offSize] = r.Size
	le.PutUint16(b[offPort:], r.Port)
	le.PutUint64(b[offSeq:], r.Seq)
	le.PutUint64(b[offRIP:], r.RIP)
	le.PutUint64(b[offBranches:], r.Branches)
	le.PutUint64(b[offValue:], r.Value)
	le.PutUint64(b[offValue2:], r.Value2)
	le.PutUint64(b[offValue3:], r.Value3)
	le.PutUint64(b[offReserved:], 0)
	le.PutUint32(b[offCRC:], checksum(b))
}

// Decode reads the record in b[:RecordSize] into r and validates it: the
// length, the CRC, then the fields as [Record.Validate] does, and the
// reserved field (must be 0). Bytes of b past RecordSize are ignored. On
// error r is left unchanged and the error is a [*DecodeError] naming the
// first bad field (errors.Is(err, ErrMalformed) holds). Decode does not
// allocate when the record is valid.
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
	if computed := checksum(b); stored != computed {
		return crcError(b, stored, computed)
	}
	d := unpack(b)
	if err := d.Validate(); err != nil {
		return err
	}
	res := le.Uint64(b[offReserved:])
	return malformed("Reserved", d.Kind, res, 0, "%v: reserved field 0x%x, must be 0", d.Kind, res)
}

// Check is Decode without the explanation: it reports whether b[:RecordSize]
// is a valid record and, if so, reads it into r. It never allocates, so the
// replaying vCPU can call it in VM-exit context; Decode says what is wrong.
func Check(b []byte, r *Record) bool {
	if len(b) < RecordSize {
		return false
	}
	b = b[:RecordSize]
	if le.Uint32(b[offCRC:]) != checksum(b) || le.Uint64(b[offReserved:]) != 0 {
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
		Kind:     Kind(b[offKind]),
		Size:     b[offSize],
		Port:     le.Uint16(b[offPort:]),
		Seq:      le.Uint64(b[offSeq:]),
		RIP:      le.Uint64(b[offRIP:]),
		Branches: le.Uint64(b[offBranches:]),
		Value:    le.Uint64(b[offValue:]),
		Value2:   le.Uint64(b[offValue2:]),
		Value3:   le.Uint64(b[offValue3:]),
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
// the CRC and reserved field, which only exist encoded): a known kind;
// Size 1, 2 or 4 for KindPortIn and 0 otherwise; Port 0 unless KindPortIn;
// a KindPortIn Value that fits in Size bytes, a KindIRQ line <= 15, a
// KindSerialIn byte <= 255; Value2 and Value3 0 unless KindDigest. The
// error is a [*DecodeError]. Validate does not allocate when r is valid.
func (r *Record) Validate() error {
	k := r.Kind
	switch r.broken() {
	case ruleKind:
		if k == 0 {
			return malformed("Kind", k, 0, 0, "kind 0 (invalid: a zeroed record)")
		}
		return malformed("Kind", k, uint64(k), 0, "unknown kind %d", uint8(k))
	case ruleSize:
		if k == KindPortIn {
			return malformed("Size", k, uint64(r.Size), 0,
				"%v: access size %d, must be 1, 2 or 4", k, r.Size)
		}
		return malformed("Size", k, uint64(r.Size), 0,
			"%v: Size %d, must be 0 unless PORTIN", k, r.Size)
	case rulePort:
		return malformed("Port", k, uint64(r.Port), 0,
			"%v: Port 0x%x, must be 0 unless PORTIN", k, r.Port)
	case ruleValue:
		switch k {
		case KindPortIn:
			max := uint64(1)<<(8*r.Size) - 1
			return malformed("Value", k, r.Value, max,
				"%v: value 0x%x does not fit a %d-byte access (max 0x%x)", k, r.Value, r.Size, max)
		case KindIRQ:
			return malformed("Value", k, r.Value, 15, "%v: line %d, must be <= 15", k, r.Value)
		}
		return malformed("Value", k, r.Value, 255, "%v: byte 0x%x, must be <= 0xff", k, r.Value)
	case ruleValue2:
		if k.CarriesInterrupts() {
			return malformed("Value2", k, r.Value2, 0x2ff,
				"%v: requested interrupt 0x%x, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector", k, r.Value2)
		}
		return malformed("Value2", k, r.Value2, 0,
			"%v: Value2 0x%x, must be 0 unless DIGEST, IRQ or SERIALIN", k, r.Value2)
	case ruleValue3:
		if k.CarriesInterrupts() && !validCode(r.Value3) {
			return malformed("Value3", k, r.Value3, 0x2ff,
				"%v: delivered interrupt 0x%x, must be 0 (unrecorded), 0x100 (none) or 0x200 + vector", k, r.Value3)
		}
		if k.CarriesInterrupts() {
			return malformed("Value3", k, r.Value3, 0,
				"%v: delivered interrupt 0x%x with requested 0x%x: both or neither must be 0 (unrecorded)", k, r.Value3, r.Value2)
		}
		return malformed("Value3", k, r.Value3, 0,
			"%v: Value3 0x%x, must be 0 unless DIGEST, IRQ or SERIALIN", k, r.Value3)
	}
	return nil
}

// rule names the first field rule a record breaks (ruleNone: none). The
// rules are stated once, here; Validate turns a broken one into an error.
type rule uint8

const (
	ruleNone rule = iota
	ruleKind
	ruleSize
	rulePort
	ruleValue
	ruleValue2
	ruleValue3
)

func (r *Record) broken() rule {
	k := r.Kind
	switch {
	case !k.Valid():
		return ruleKind
	case k == KindPortIn && r.Size != 1 && r.Size != 2 && r.Size != 4,
		k != KindPortIn && r.Size != 0:
		return ruleSize
	case k != KindPortIn && r.Port != 0:
		return rulePort
	case k == KindPortIn && r.Value > uint64(1)<<(8*r.Size)-1,
		k == KindIRQ && r.Value > 15,
		k == KindSerialIn && r.Value > 255:
		return ruleValue
	case k.CarriesInterrupts() && !validCode(r.Value2),
		k != KindDigest && !k.CarriesInterrupts() && r.Value2 != 0:
		return ruleValue2
	case k.CarriesInterrupts() && (!validCode(r.Value3) || (r.Value2 == Unrecorded) != (r.Value3 == Unrecorded)),
		k != KindDigest && !k.CarriesInterrupts() && r.Value3 != 0:
		return ruleValue3
	}
	return ruleNone
}

// ErrMalformed is matched (errors.Is) by every [*DecodeError]: a record or
// log file that is not in the documented layout.
var ErrMalformed = errors.New("replay: malformed record")

// DecodeError reports a malformed record, or a malformed log file header
// (see [LogError]), by the first bad field.
type DecodeError struct {
	// Field names the bad field: "length", "CRC", "Kind", "Size", "Port",
	// "Value", "Value2", "Value3", "Reserved" for a record; "magic",
	// "version", "record size", "header CRC", "header reserved", "count"
	// for a log file header.
	Field string
	// Kind is the record's kind byte as stored (0 for header errors).
	Kind Kind
	// Got is the value found. For "CRC" it is the stored CRC.
	Got uint64
	// Want is the value wanted, or the bound that Got exceeds: the computed
	// CRC for "CRC", RecordSize for "length", the largest valid value for
	// a range check, 0 for a field that must be 0 or has no single
	// right value.
	Want uint64
	// Msg is the human-readable description, without the "replay: record: "
	// prefix of Error.
	Msg string

	header bool // a log file header field
}

func malformed(field string, k Kind, got, want uint64, format string, args ...any) *DecodeError {
	return &DecodeError{Field: field, Kind: k, Got: got, Want: want, Msg: fmt.Sprintf(format, args...)}
}

// Error returns "replay: record: " (or "replay: log header: ") and Msg.
func (e *DecodeError) Error() string {
	if e.header {
		return "replay: log header: " + e.Msg
	}
	return "replay: record: " + e.Msg
}

// Unwrap returns ErrMalformed.
func (e *DecodeError) Unwrap() error { return ErrMalformed }

// String returns one line for divergence reports: the landmark, the kind
// and the payload, e.g.
//
//	#1234 rip=0x100034 RDTSC value=0x2f1a00c4
//	#77 rip=0xfff0 br=90210 PORTIN port=0x40 size=1 value=0x5c
//
// Fields the kind does not use are printed only when they are not zero
// (which Validate would reject).
func (r Record) String() string {
	b := make([]byte, 0, 96)
	b = r.Landmark().append(b)
	b = append(b, ' ')
	b = append(b, r.Kind.String()...)
	portShown := false
	switch r.Kind {
	case KindRDTSC:
		b = appendHex(b, " value=", r.Value)
	case KindPortIn:
		b = appendHex(b, " port=", uint64(r.Port))
		b = append(b, " size="...)
		b = strconv.AppendUint(b, uint64(r.Size), 10)
		b = appendHex(b, " value=", r.Value)
		portShown = true
	case KindIRQ:
		b = append(b, " line="...)
		b = strconv.AppendUint(b, r.Value, 10)
		return string(appendInterrupts(appendUnused(b, r, false), r))
	case KindSerialIn:
		b = appendHex(b, " byte=", r.Value)
		if r.Value <= 0xff {
			b = append(b, ' ')
			b = strconv.AppendQuoteRuneToASCII(b, rune(r.Value))
		}
		return string(appendInterrupts(appendUnused(b, r, false), r))
	case KindDigest:
		b = appendHex(b, " regs=", r.Value)
		b = appendHex(b, " ram=", r.Value2)
		b = appendHex(b, " serial=", r.Value3)
		return string(appendUnused(b, r, false))
	case KindProgress:
		b = append(b, " host="...)
		b = strconv.AppendUint(b, r.Value, 10)
		b = append(b, "ns"...)
	case KindEnd:
		b = append(b, " status="...)
		b = strconv.AppendUint(b, r.Value, 10)
	default:
		b = appendHex(b, " value=", r.Value)
	}
	b = appendUnused(b, r, portShown)
	if r.Kind != KindDigest {
		if r.Value2 != 0 {
			b = appendHex(b, " value2=", r.Value2)
		}
		if r.Value3 != 0 {
			b = appendHex(b, " value3=", r.Value3)
		}
	}
	return string(b)
}

// appendInterrupts appends the requested and delivered interrupts of a
// KindIRQ or KindSerialIn record, where recorded.
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

// appendUnused appends Port and Size when they are set but not shown.
func appendUnused(b []byte, r Record, portShown bool) []byte {
	if portShown {
		return b
	}
	if r.Port != 0 {
		b = appendHex(b, " port=", uint64(r.Port))
	}
	if r.Size != 0 {
		b = append(b, " size="...)
		b = strconv.AppendUint(b, uint64(r.Size), 10)
	}
	return b
}

func appendHex(b []byte, label string, v uint64) []byte {
	b = append(b, label...)
	b = append(b, "0x"...)
	return strconv.AppendUint(b, v, 16)
}

// Landmark is a point in the guest's execution that both sides compute the
// same way: the count of synchronous VM exits so far (this one included),
// the guest RIP there, and the retired-branch count where a PMU exists
// (else 0).
type Landmark struct{ Seq, RIP, Branches uint64 }

// Landmark returns the record's landmark.
func (r *Record) Landmark() Landmark {
	return Landmark{Seq: r.Seq, RIP: r.RIP, Branches: r.Branches}
}

// Before reports whether a comes before b in the guest's execution, which
// is decided by Seq alone: two landmarks with the same Seq are the same
// exit (neither is before the other), and a RIP or Branches that differs
// there is a divergence for the replay engine to report, not an order.
func (a Landmark) Before(b Landmark) bool { return a.Seq < b.Seq }

// String returns "#seq rip=0x..." with " br=n" added when Branches is not 0.
func (a Landmark) String() string { return string(a.append(make([]byte, 0, 48))) }

func (a Landmark) append(b []byte) []byte {
	b = append(b, '#')
	b = strconv.AppendUint(b, a.Seq, 10)
	b = appendHex(b, " rip=", a.RIP)
	if a.Branches != 0 {
		b = append(b, " br="...)
		b = strconv.AppendUint(b, a.Branches, 10)
	}
	return b
}
