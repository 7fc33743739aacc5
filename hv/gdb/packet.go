package gdb

// Framing of the remote serial protocol (gdb manual, "Overview" and
// "Packet Acknowledgment" of the Remote Protocol appendix): a packet is
// $data#cs, cs the two-hex-digit sum of the data bytes modulo 256; the
// receiver answers + (good) or - (bad, send again) unless no-ack mode is
// on; 0x03 outside a packet is an interrupt request. Within data, 0x7d
// ('}') escapes the next byte (XOR 0x20), and '*' followed by a count
// character c repeats the previous byte c-29 times.

type frameKind uint8

const (
	framePacket      frameKind = iota // a packet with a good checksum; data decoded
	frameBadChecksum                  // a packet whose checksum did not match
	frameOversize                     // a good packet longer than the limit; size is its length
	frameMalformed                    // a good packet with an invalid run length or an unfinished escape
	frameAck                          // '+'
	frameNack                         // '-'
	frameInterrupt                    // 0x03 between packets
)

// frame is one thing the framer recognised. data is only valid during the
// callback.
type frame struct {
	kind frameKind
	data []byte
	size int
}

type frameState uint8

const (
	stateIdle frameState = iota // between packets
	stateData                   // after '$'
	stateSum1                   // after '#'
	stateSum2                   // after the first checksum digit
)

// framer turns the byte stream from the debugger into frames. It keeps at
// most max decoded bytes of a packet, so a huge or endless packet cannot
// exhaust memory.
type framer struct {
	max     int
	state   frameState
	buf     []byte
	size    int  // decoded length, also past max
	sum     byte // running checksum of the raw data bytes
	want    byte // checksum sent, from the two digits
	escape  bool // the previous raw byte was '}'
	repeat  bool // the previous raw byte was '*'
	bad     bool // an invalid run-length count was seen
	garbage int  // bytes discarded outside packets, for tracing
}

func newFramer(max int) *framer {
	return &framer{max: max, buf: make([]byte, 0, max)}
}

// feed consumes raw bytes from the connection and calls emit for every
// frame completed.
func (f *framer) feed(p []byte, emit func(frame)) {
	for _, c := range p {
		f.byte(c, emit)
	}
}

func (f *framer) byte(c byte, emit func(frame)) {
	switch f.state {
	case stateIdle:
		switch c {
		case '$':
			f.start()
		case '+':
			emit(frame{kind: frameAck})
		case '-':
			emit(frame{kind: frameNack})
		case 0x03:
			emit(frame{kind: frameInterrupt})
		default:
			f.garbage++
		}
	case stateData:
		// '$' and '#' are never data: gdb escapes them in binary data and
		// run-length counts avoid them.
		switch c {
		case '$':
			// The packet was cut off; this is the start of the next one.
			f.garbage += f.size + 1
			f.start()
		case '#':
			if f.escape || f.repeat { // an escape or a count left open
				f.bad = true
			}
			f.state = stateSum1
		default:
			f.sum += c
			f.data(c)
		}
	case stateSum1:
		v, ok := unhex(c)
		if !ok {
			emit(frame{kind: frameBadChecksum})
			f.state = stateIdle
			f.byte(c, emit) // it may start the next packet
			return
		}
		f.want = v << 4
		f.state = stateSum2
	case stateSum2:
		f.state = stateIdle
		v, ok := unhex(c)
		switch {
		case !ok || f.want|v != f.sum:
			emit(frame{kind: frameBadChecksum})
			if !ok {
				f.byte(c, emit)
			}
		case f.bad:
			emit(frame{kind: frameMalformed})
		case f.size > f.max:
			emit(frame{kind: frameOversize, size: f.size})
		default:
			emit(frame{kind: framePacket, data: f.buf, size: f.size})
		}
	}
}

func (f *framer) start() {
	f.state, f.buf, f.size, f.sum, f.escape, f.repeat, f.bad = stateData, f.buf[:0], 0, 0, false, false, false
}

// data decodes one raw data byte (escapes and run lengths).
func (f *framer) data(c byte) {
	switch {
	case f.repeat:
		f.repeat = false
		n := int(c) - 29
		if f.size == 0 || n < 3 || c > 126 {
			f.bad = true
			return
		}
		last := byte(0)
		if len(f.buf) > 0 {
			last = f.buf[len(f.buf)-1]
		}
		for range n {
			f.put(last)
		}
	case f.escape:
		f.escape = false
		f.put(c ^ 0x20)
	case c == '}':
		f.escape = true
	case c == '*':
		f.repeat = true
	default:
		f.put(c)
	}
}

func (f *framer) put(c byte) {
	if f.size < f.max {
		f.buf = append(f.buf, c)
	}
	f.size++
}

const hexDigits = "0123456789abcdef"

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendPacket appends the framed packet $payload#cs. The payload must
// not contain '$', '#', '}' or '*' (binary data goes through
// appendEscaped first).
func appendPacket(dst, payload []byte) []byte {
	dst = append(dst, '$')
	var sum byte
	for _, c := range payload {
		sum += c
	}
	dst = append(dst, payload...)
	return append(dst, '#', hexDigits[sum>>4], hexDigits[sum&15])
}

// appendEscaped appends binary data with the four special bytes escaped.
func appendEscaped(dst, data []byte) []byte {
	for _, c := range data {
		if c == '$' || c == '#' || c == '}' || c == '*' {
			dst = append(dst, '}', c^0x20)
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// appendHex appends data as hex digits.
func appendHex(dst, data []byte) []byte {
	for _, c := range data {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// decodeHex decodes hex digits into dst's backing array (it may be src)
// and returns the bytes, or false for an odd length or a non-hex digit.
func decodeHex(dst, src []byte) ([]byte, bool) {
	if len(src)%2 != 0 {
		return nil, false
	}
	dst = dst[:0]
	for i := 0; i < len(src); i += 2 {
		hi, ok1 := unhex(src[i])
		lo, ok2 := unhex(src[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, true
}

// parseHex parses a hex number (at most 16 digits).
func parseHex(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

// textSafe returns s with the bytes framing gives a meaning ('$', '#', '}'
// and '*', which gdb would take as a run length) replaced, for text sent
// as it is (E.text replies).
func textSafe(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if c == '$' || c == '#' || c == '}' || c == '*' || c < ' ' || c > '~' {
			b[i] = '.'
		}
	}
	return b
}
