package gdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Config tunes a stub.
type Config struct {
	// PacketSize is the largest packet, in decoded bytes between '$' and
	// '#', the stub accepts; it announces it in qSupported, and gdb sizes
	// its memory reads and writes by it. Zero means DefaultPacketSize.
	PacketSize int
	// Trace, if set, gets one line per packet in and out and per framing
	// error, for debugging the stub.
	Trace io.Writer
}

// DefaultPacketSize is the packet size announced unless Config says
// otherwise: large enough for the 1216 hex digits of a g reply and for
// 2 KiB memory reads.
const DefaultPacketSize = 4096

// minPacketSize keeps room for a g packet (G plus 608 register bytes in hex).
const minPacketSize = 2*608 + 16

// maxNacks is how often the stub sends a packet again on '-' before it
// gives up on it (the debugger then times out and asks again).
const maxNacks = 10

// threadID is the one thread the stub shows: the vCPU.
const threadID = 1

// Signal numbers of stop replies (gdb's remote protocol numbering, the
// GDB_SIGNAL values).
const (
	sigINT  = 2
	sigTRAP = 5
	sigABRT = 6
)

// Serve speaks the gdb remote serial protocol on conn for target t until
// conn fails or ends. Debugging sessions come one after another on the
// same connection (a serial line outlives the gdb that uses it): a
// session starts with the debugger's first packet and ends with D, k or
// vKill; a qSupported in the middle of a session means the old debugger is
// gone and a new one starts. Serve returns nil if conn ends (io.EOF)
// between sessions, and an error if it ends or fails during one, after
// detaching the target (which then runs freely).
//
// A goroutine reads conn concurrently, so that Ctrl-C reaches a running
// target; it ends when conn's Read fails. The caller closes conn after
// Serve returns.
func Serve(conn io.ReadWriter, t Target, cfg Config) error {
	if cfg.PacketSize == 0 {
		cfg.PacketSize = DefaultPacketSize
	}
	if cfg.PacketSize < minPacketSize {
		return fmt.Errorf("gdb: PacketSize %d is too small: a G packet needs %d bytes", cfg.PacketSize, minPacketSize)
	}
	s := &stub{
		t:       t,
		cfg:     cfg,
		conn:    conn,
		frames:  make(chan event, 16),
		done:    make(chan struct{}),
		inserts: make(map[breakpoint]bool),
	}
	defer close(s.done)
	go s.readLoop()
	return s.serve()
}

// event is a frame handed from the reader goroutine to Serve's.
type event struct {
	frame
	seq uint64 // packets: their number in arrival order
	err error  // the connection's error, when it ended
}

type breakpoint struct {
	kind       BreakKind
	addr, size uint64
}

type stub struct {
	t    Target
	cfg  Config
	conn io.ReadWriter

	frames chan event    // reader -> server
	done   chan struct{} // closed when Serve returns: the reader stops handing over

	// Shared with the reader goroutine.
	mu             sync.Mutex
	cancelRun      context.CancelCauseFunc // the running Resume's, or nil
	interruptAfter uint64                  // a Ctrl-C arrived after this packet

	// Server goroutine only.
	pending   []event // frames read while waiting for an ack
	noAck     bool
	attached  bool
	reverse   bool // the target said CanReverse at attach
	lastStop  StopEvent
	inserts   map[breakpoint]bool
	lastError string // why the last request failed, for "monitor why"
	out       []byte // reply under construction
	wire      []byte // framed packet
	regs      Registers
}

// readLoop runs in its own goroutine: it frames what the debugger sends,
// acts on Ctrl-C at once, and hands everything else to the server.
func (s *stub) readLoop() {
	f := newFramer(s.cfg.PacketSize)
	var seq uint64
	buf := make([]byte, 4096)
	handOver := func(ev event) bool {
		select {
		case s.frames <- ev:
			return true
		case <-s.done:
			return false
		}
	}
	open := true
	emit := func(fr frame) {
		if !open {
			return
		}
		switch fr.kind {
		case frameInterrupt:
			s.interrupt(seq)
			return
		case framePacket:
			seq++
			fr.data = bytes.Clone(fr.data)
			if bytes.HasPrefix(fr.data, []byte("qSupported")) {
				// A new debugger: the one a running Resume serves is
				// gone (on a serial line nothing else says so).
				s.mu.Lock()
				if s.cancelRun != nil {
					s.cancelRun(errReplaced)
				}
				s.mu.Unlock()
			}
		}
		open = handOver(event{frame: fr, seq: seq})
	}
	for open {
		n, err := s.conn.Read(buf)
		f.feed(buf[:n], emit)
		if err != nil {
			s.mu.Lock()
			if s.cancelRun != nil {
				s.cancelRun(ErrDisconnected)
			}
			s.mu.Unlock()
			if open {
				handOver(event{err: err})
			}
			return
		}
	}
}

// interrupt handles Ctrl-C: it stops the running Resume, or, if the
// server has not started it yet, makes the next Resume for a packet
// received before the Ctrl-C stop at once.
func (s *stub) interrupt(lastSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelRun != nil {
		s.cancelRun(ErrInterrupted)
		return
	}
	s.interruptAfter = lastSeq
}

// next returns the next event: one set aside while waiting for an ack,
// or a new one.
func (s *stub) next() event {
	if len(s.pending) > 0 {
		ev := s.pending[0]
		s.pending = s.pending[1:]
		return ev
	}
	return <-s.frames
}

// errSessionLost ends a session whose debugger went away.
type errSessionLost struct{ err error }

func (e *errSessionLost) Error() string {
	return fmt.Sprintf("gdb: debugger lost during a session (%v); the target was detached and runs freely", e.err)
}

func (e *errSessionLost) Unwrap() error { return e.err }

func (s *stub) serve() error {
	for {
		ev := s.next()
		if ev.err != nil {
			if s.attached {
				s.detach()
				return &errSessionLost{ev.err}
			}
			if errors.Is(ev.err, io.EOF) {
				return nil
			}
			return fmt.Errorf("gdb: reading from the debugger: %w", ev.err)
		}
		var err error
		switch ev.kind {
		case frameAck, frameNack:
			// Stray acknowledgement (gdb sends '+' when it connects).
		case frameBadChecksum:
			s.trace("<- packet with a bad checksum")
			if !s.noAck {
				err = s.write([]byte{'-'})
			}
		case frameOversize:
			s.trace("<- packet of %d bytes, above PacketSize %d", ev.size, s.cfg.PacketSize)
			if err = s.ack(); err == nil {
				err = s.reply(fmt.Appendf(s.out[:0], "E.packet of %d bytes exceeds PacketSize=%#x", ev.size, s.cfg.PacketSize))
			}
		case frameMalformed:
			s.trace("<- packet with an invalid run length or an unfinished escape")
			if err = s.ack(); err == nil {
				err = s.reply(append(s.out[:0], "E.malformed packet: invalid run length or unfinished escape"...))
			}
		case framePacket:
			s.trace("<- %s", ev.data)
			if err = s.ack(); err == nil {
				err = s.packet(ev)
			}
		}
		if err != nil {
			var lost *errSessionLost
			switch {
			case errors.As(err, &lost):
			case s.attached:
				lost = &errSessionLost{err}
			case errors.Is(err, io.EOF):
				return nil // the connection ended between sessions
			default:
				return fmt.Errorf("gdb: talking to the debugger: %w", err)
			}
			if s.attached {
				s.detach()
			}
			return lost
		}
	}
}

func (s *stub) trace(format string, args ...any) {
	if s.cfg.Trace != nil {
		fmt.Fprintf(s.cfg.Trace, format+"\n", args...)
	}
}

func (s *stub) write(p []byte) error {
	_, err := s.conn.Write(p)
	return err
}

func (s *stub) ack() error {
	if s.noAck {
		return nil
	}
	return s.write([]byte{'+'})
}

// reply frames and sends payload; in ack mode it waits for '+' and sends
// again on '-'. Frames other than acks that arrive meanwhile are kept for
// next (a packet means the debugger took the reply).
func (s *stub) reply(payload []byte) error {
	s.trace("-> %s", payload)
	s.wire = appendPacket(s.wire[:0], payload)
	for tries := 0; ; tries++ {
		if err := s.write(s.wire); err != nil {
			return err
		}
		if s.noAck {
			return nil
		}
		nacked, err := s.awaitAck()
		if err != nil || !nacked {
			return err
		}
		if tries == maxNacks {
			s.trace("-- giving up on a packet after %d retransmissions", maxNacks)
			return nil
		}
	}
}

// awaitAck waits for the debugger's '+' or '-' after a packet.
func (s *stub) awaitAck() (nacked bool, err error) {
	ev := <-s.frames
	switch {
	case ev.err != nil:
		return false, ev.err
	case ev.kind == frameNack:
		return true, nil
	case ev.kind != frameAck:
		s.pending = append(s.pending, ev)
	}
	return false, nil
}

func (s *stub) attach() error {
	stop, err := s.t.Attach()
	if err != nil {
		return err
	}
	s.attached, s.lastStop, s.reverse, s.lastError = true, stop, s.t.CanReverse(), ""
	return nil
}

// detach ends the session: the stub's breakpoints go, the target runs.
func (s *stub) detach() {
	s.removeBreakpoints("on detach")
	s.t.Detach()
	s.attached = false
	s.noAck = false // the next debugger on this line starts in ack mode
}

// replace hands a session to a new debugger that replaced a vanished
// one: the old one's breakpoints go, the target stays stopped where it is.
func (s *stub) replace() {
	s.removeBreakpoints("replacing the debugger")
	s.noAck, s.lastError = false, ""
}

// removeBreakpoints takes the session's breakpoints out of the target.
func (s *stub) removeBreakpoints(why string) {
	for bp := range s.inserts {
		if err := s.t.SetBreakpoint(bp.kind, bp.addr, bp.size, false); err != nil {
			s.trace("-- removing %v at %#x (%s): %v", bp.kind, bp.addr, why, err)
		}
		delete(s.inserts, bp)
	}
}

// packet handles one packet of a session.
func (s *stub) packet(ev event) error {
	p := ev.data
	if s.attached && bytes.HasPrefix(p, []byte("qSupported")) {
		s.trace("-- qSupported in a session: a new debugger replaces the old one")
		s.replace()
	}
	if !s.attached {
		if err := s.attach(); err != nil {
			return s.replyError(fmt.Sprintf("the target cannot be debugged now: %v", err))
		}
	}
	s.out = s.out[:0]
	if len(p) == 0 {
		return s.reply(s.out)
	}
	switch p[0] {
	case '?':
		return s.reply(s.stopReply(s.lastStop))
	case 'g':
		return s.readRegisters()
	case 'p':
		return s.readRegister(p[1:])
	case 'G':
		return s.writeRegisters(p[1:])
	case 'P':
		return s.writeRegister(p[1:])
	case 'm':
		return s.readMemory(p[1:])
	case 'M':
		return s.writeMemory(p[1:], false)
	case 'X':
		return s.writeMemory(p[1:], true)
	case 'c', 's':
		return s.resumeSimple(p[0], p[1:], ev.seq)
	case 'C', 'S':
		return s.resumeSignal(p[0], p[1:], ev.seq)
	case 'b':
		return s.reverseResume(p, ev.seq)
	case 'v':
		return s.vPacket(p, ev.seq)
	case 'H':
		if len(p) >= 2 && (p[1] == 'g' || p[1] == 'c') && isOurThread(p[2:]) {
			return s.reply(append(s.out, "OK"...))
		}
		return s.replyError("unknown thread: there is one thread, 1")
	case 'T':
		if isOurThread(p[1:]) {
			return s.reply(append(s.out, "OK"...))
		}
		return s.replyError("unknown thread")
	case 'Z', 'z':
		return s.breakpoint(p)
	case 'D':
		err := s.reply(append(s.out, "OK"...))
		s.detach()
		return err
	case 'k':
		// No reply: gdb does not wait for one. Kill means detach here: the
		// replica is not gdb's to end.
		s.detach()
		return nil
	case 'q':
		return s.query(p)
	case 'Q':
		if string(p) == "QStartNoAckMode" {
			err := s.reply(append(s.out, "OK"...))
			s.noAck = true // after gdb acknowledged the OK
			return err
		}
	}
	// Unknown packets get an empty reply, which gdb reads as "not
	// supported" (and expects for vMustReplyEmpty).
	return s.reply(s.out[:0])
}

// replyError sends E.text (gdb 13 shows the text for register writes,
// breakpoints and resumes; "monitor why" repeats it for the rest).
func (s *stub) replyError(text string) error {
	s.trace("-- error: %s", text)
	s.lastError = text
	return s.reply(append(append(s.out[:0], "E."...), textSafe(text)...))
}

func isOurThread(id []byte) bool {
	// Thread ids: "1", "0" (any), "-1" (all), and the multiprocess form
	// pP.T in case a debugger sends it anyway.
	if i := bytes.IndexByte(id, '.'); len(id) > 0 && id[0] == 'p' && i > 0 {
		id = id[i+1:]
	}
	switch string(id) {
	case "0", "-1", "1", "01":
		return true
	}
	return false
}

func (s *stub) query(p []byte) error {
	switch {
	case bytes.HasPrefix(p, []byte("qSupported")):
		s.out = fmt.Appendf(s.out, "PacketSize=%x;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+", s.cfg.PacketSize)
		if s.reverse {
			s.out = append(s.out, ";ReverseStep+;ReverseContinue+"...)
		}
		return s.reply(s.out)
	case bytes.HasPrefix(p, []byte("qXfer:features:read:")):
		return s.readFeatures(p[len("qXfer:features:read:"):])
	case string(p) == "qAttached" || bytes.HasPrefix(p, []byte("qAttached:")):
		// Attached to an existing process: quitting gdb detaches.
		return s.reply(append(s.out, '1'))
	case string(p) == "qC":
		return s.reply(append(s.out, "QC1"...))
	case string(p) == "qfThreadInfo":
		return s.reply(append(s.out, "m1"...))
	case string(p) == "qsThreadInfo":
		return s.reply(append(s.out, 'l'))
	case bytes.HasPrefix(p, []byte("qRcmd,")):
		return s.monitor(p[len("qRcmd,"):])
	}
	return s.reply(s.out)
}

// readFeatures serves qXfer:features:read:ANNEX:OFFSET,LENGTH in chunks:
// m (more follows) or l (last).
func (s *stub) readFeatures(args []byte) error {
	annex, rest, ok := bytes.Cut(args, []byte{':'})
	offHex, lenHex, ok2 := bytes.Cut(rest, []byte{','})
	off, ok3 := parseHex(offHex)
	n, ok4 := parseHex(lenHex)
	if !ok || !ok2 || !ok3 || !ok4 {
		return s.replyError("malformed qXfer request")
	}
	if string(annex) != "target.xml" {
		return s.replyError(fmt.Sprintf("no feature document %q (only target.xml)", annex))
	}
	if off >= uint64(len(targetXML)) {
		return s.reply(append(s.out, 'l'))
	}
	// Leave room for the 'm'. The XML has no bytes that need escaping
	// (checked by a test), so the chunk is as long as the reply.
	n = min(n, uint64(s.cfg.PacketSize)-1, uint64(len(targetXML))-off)
	chunk := targetXML[off : off+n]
	kind := byte('m')
	if off+n == uint64(len(targetXML)) {
		kind = 'l'
	}
	return s.reply(appendEscaped(append(s.out, kind), []byte(chunk)))
}

func (s *stub) readRegisters() error {
	if err := s.t.Registers(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("reading registers: %v", err))
	}
	var raw [608]byte
	b := raw[:0]
	for i := range registerTable {
		b = encodeRegister(b, &s.regs, &registerTable[i])
	}
	return s.reply(appendHex(s.out, b))
}

func (s *stub) readRegister(arg []byte) error {
	n, ok := parseHex(arg)
	if !ok || n >= uint64(len(registerTable)) {
		return s.replyError(fmt.Sprintf("no register %q (0 to %x)", arg, len(registerTable)-1))
	}
	if err := s.t.Registers(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("reading registers: %v", err))
	}
	var raw [16]byte
	return s.reply(appendHex(s.out, encodeRegister(raw[:0], &s.regs, &registerTable[n])))
}

// refuse answers a write the target does not allow now (gdb prints only
// "Cannot access memory" for a refused memory write; "monitor why" says
// why).
func (s *stub) refuse(what string, why error) error {
	return s.replyError(fmt.Sprintf("%s refused: %v", what, why))
}

func (s *stub) writeRegisters(arg []byte) error {
	if why := s.t.Writable(); why != nil {
		return s.refuse("writing registers", why)
	}
	raw, ok := decodeHex(nil, arg)
	if !ok || len(raw) != registerBytes {
		return s.replyError(fmt.Sprintf("G packet has %d hex digits, want %d", len(arg), 2*registerBytes))
	}
	if err := s.t.Registers(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("reading registers: %v", err))
	}
	for i := range registerTable {
		d := &registerTable[i]
		if err := decodeRegister(raw[:d.bits/8], &s.regs, d); err != nil {
			return s.replyError(err.Error())
		}
		raw = raw[d.bits/8:]
	}
	if err := s.t.SetRegisters(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("writing registers: %v", err))
	}
	return s.reply(append(s.out, "OK"...))
}

func (s *stub) writeRegister(arg []byte) error {
	numHex, valHex, ok := bytes.Cut(arg, []byte{'='})
	n, ok2 := parseHex(numHex)
	if !ok || !ok2 || n >= uint64(len(registerTable)) {
		return s.replyError(fmt.Sprintf("malformed P packet or no register %q", numHex))
	}
	d := &registerTable[n]
	if why := s.t.Writable(); why != nil {
		return s.refuse("writing register "+d.name, why)
	}
	raw, ok := decodeHex(nil, valHex)
	if !ok || len(raw) != d.bits/8 {
		return s.replyError(fmt.Sprintf("register %s takes %d hex digits", d.name, d.bits/4))
	}
	if err := s.t.Registers(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("reading registers: %v", err))
	}
	if err := decodeRegister(raw, &s.regs, d); err != nil {
		return s.replyError(err.Error())
	}
	if err := s.t.SetRegisters(&s.regs); err != nil {
		return s.replyError(fmt.Sprintf("writing register %s: %v", d.name, err))
	}
	return s.reply(append(s.out, "OK"...))
}

// parseAddrLen parses "ADDR,LENGTH" and returns the rest after it.
func parseAddrLen(arg []byte) (addr, n uint64, rest []byte, ok bool) {
	a, r, ok1 := bytes.Cut(arg, []byte{','})
	end := bytes.IndexByte(r, ':')
	if end < 0 {
		end = len(r)
	}
	addr, ok2 := parseHex(a)
	n, ok3 := parseHex(r[:end])
	return addr, n, r[end:], ok1 && ok2 && ok3
}

func (s *stub) readMemory(arg []byte) error {
	addr, n, rest, ok := parseAddrLen(arg)
	if !ok || len(rest) != 0 {
		return s.replyError("malformed m packet (want m ADDR,LENGTH)")
	}
	// A shorter reply is allowed; keep it within a packet.
	n = min(n, uint64(s.cfg.PacketSize)/2)
	buf := make([]byte, n)
	got, err := s.t.ReadMemory(addr, buf)
	if got == 0 && n > 0 {
		if err == nil {
			err = errors.New("nothing read")
		}
		// gdb 13 takes only "E NN" as an error here and prints "Cannot
		// access memory at address ADDR"; "monitor why" tells the rest.
		s.lastError = fmt.Sprintf("reading %d bytes at %#x: %v", n, addr, err)
		s.trace("-- %s", s.lastError)
		return s.reply(append(s.out[:0], "E14"...)) // EFAULT
	}
	return s.reply(appendHex(s.out, buf[:got]))
}

func (s *stub) writeMemory(arg []byte, binary bool) error {
	addr, n, rest, ok := parseAddrLen(arg)
	if !ok || len(rest) == 0 {
		return s.replyError("malformed memory write (want M ADDR,LENGTH:DATA)")
	}
	data := rest[1:]
	if !binary {
		var ok bool
		if data, ok = decodeHex(nil, data); !ok {
			return s.replyError("M packet data is not hex")
		}
	}
	if uint64(len(data)) != n {
		return s.replyError(fmt.Sprintf("memory write of %d bytes carries %d", n, len(data)))
	}
	if why := s.t.Writable(); why != nil {
		return s.refuse(fmt.Sprintf("writing %d bytes of memory at %#x", n, addr), why)
	}
	if n == 0 { // gdb's probe for X support
		return s.reply(append(s.out, "OK"...))
	}
	if got, err := s.t.WriteMemory(addr, data); err != nil || got != len(data) {
		return s.replyError(fmt.Sprintf("writing memory at %#x: %d of %d bytes: %v", addr, got, n, err))
	}
	return s.reply(append(s.out, "OK"...))
}

// breakpoint handles Ztype,addr,kind and ztype,addr,kind.
func (s *stub) breakpoint(p []byte) error {
	insert := p[0] == 'Z'
	typ, rest, ok := bytes.Cut(p[1:], []byte{','})
	if !ok || len(typ) != 1 || typ[0] < '0' || typ[0] > '4' {
		return s.reply(s.out) // unknown type: not supported
	}
	// Conditions and commands (";X...") are not announced, so not sent.
	if i := bytes.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	addr, size, tail, ok := parseAddrLen(rest)
	if !ok || len(tail) != 0 {
		return s.replyError("malformed breakpoint packet (want Z TYPE,ADDR,KIND)")
	}
	bp := breakpoint{kind: BreakKind(typ[0] - '0'), addr: addr, size: size}
	if s.inserts[bp] == insert { // inserting twice or removing what is not there
		return s.reply(append(s.out, "OK"...))
	}
	if err := s.t.SetBreakpoint(bp.kind, addr, size, insert); err != nil {
		if errors.Is(err, ErrUnsupported) {
			return s.reply(s.out)
		}
		return s.replyError(fmt.Sprintf("%v at %#x: %v", bp.kind, addr, err))
	}
	if insert {
		s.inserts[bp] = true
	} else {
		delete(s.inserts, bp)
	}
	return s.reply(append(s.out, "OK"...))
}

// resumeSimple handles c [ADDR] and s [ADDR].
func (s *stub) resumeSimple(cmd byte, addr []byte, seq uint64) error {
	mode := Continue
	if cmd == 's' {
		mode = Step
	}
	if len(addr) > 0 {
		return s.replyError("resuming at another address changes rip; not supported while debugging a replica")
	}
	return s.resume(mode, seq)
}

// resumeSignal handles C SIG[;ADDR] and S SIG[;ADDR]. A replica cannot be
// given a signal; gdb passes the stop's own signal back, which is ignored.
func (s *stub) resumeSignal(cmd byte, arg []byte, seq uint64) error {
	if bytes.IndexByte(arg, ';') >= 0 {
		return s.replyError("resuming at another address changes rip; not supported while debugging a replica")
	}
	return s.resumeSimple(cmd+'a'-'A', nil, seq)
}

func (s *stub) reverseResume(p []byte, seq uint64) error {
	if !s.reverse || len(p) != 2 || (p[1] != 's' && p[1] != 'c') {
		return s.reply(s.out) // not supported
	}
	if p[1] == 's' {
		return s.resume(ReverseStep, seq)
	}
	return s.resume(ReverseContinue, seq)
}

func (s *stub) vPacket(p []byte, seq uint64) error {
	switch {
	case string(p) == "vCont?":
		// gdb uses vCont only if c, C, s and S are all listed.
		return s.reply(append(s.out, "vCont;c;C;s;S"...))
	case bytes.HasPrefix(p, []byte("vCont;")):
		return s.vCont(p[len("vCont;"):], seq)
	case bytes.HasPrefix(p, []byte("vKill")):
		err := s.reply(append(s.out, "OK"...))
		s.detach()
		return err
	}
	return s.reply(s.out)
}

// vCont handles vCont;ACTION[:THREAD];...: the first action that applies
// to the thread wins.
func (s *stub) vCont(actions []byte, seq uint64) error {
	for a := range bytes.SplitSeq(actions, []byte{';'}) {
		act, thread, hasThread := bytes.Cut(a, []byte{':'})
		if hasThread && !isOurThread(thread) {
			continue
		}
		if len(act) == 0 {
			break
		}
		switch act[0] {
		case 'c', 'C':
			return s.resume(Continue, seq)
		case 's', 'S':
			return s.resume(Step, seq)
		}
		return s.replyError(fmt.Sprintf("vCont action %q is not supported", act))
	}
	return s.replyError("vCont names no action for thread 1")
}

// resume runs the target and sends the stop reply. It returns an
// errSessionLost if the connection ended while the target ran.
func (s *stub) resume(mode ResumeMode, seq uint64) error {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	s.mu.Lock()
	if s.interruptAfter >= seq {
		cancel(ErrInterrupted) // Ctrl-C came right behind this packet
	}
	s.cancelRun = cancel
	s.mu.Unlock()

	stop := s.t.Resume(ctx, mode)

	s.mu.Lock()
	s.cancelRun = nil
	s.mu.Unlock()
	if errors.Is(context.Cause(ctx), ErrDisconnected) {
		return &errSessionLost{ErrDisconnected}
	}
	if errors.Is(context.Cause(ctx), errReplaced) {
		// The debugger that asked is gone: its stop reply would reach the
		// new one as the answer to its first packet.
		s.lastStop = stop
		return nil
	}
	s.lastStop = stop
	if stop.Message != "" {
		if err := s.console(stop.Message + "\n"); err != nil {
			return err
		}
	}
	return s.reply(s.stopReply(stop))
}

// expedited are the registers sent with every stop reply.
var expedited = []int{registerByName("rbp"), registerByName("rsp"), registerByName("rip")}

// stopReply formats a T stop reply into s.out.
func (s *stub) stopReply(stop StopEvent) []byte {
	sig := sigTRAP
	switch stop.Reason {
	case StopInterrupt:
		sig = sigINT
	case StopEnded:
		sig = sigABRT
	}
	b := fmt.Appendf(s.out[:0], "T%02xthread:%x;", sig, threadID)
	// Expedite the registers gdb needs to show where it stopped (rbp, rsp,
	// rip), which spares it a g packet after a stepi.
	if err := s.t.Registers(&s.regs); err == nil {
		var raw [8]byte
		for _, n := range expedited {
			b = fmt.Appendf(b, "%x:", n)
			b = appendHex(b, encodeRegister(raw[:0], &s.regs, &registerTable[n]))
			b = append(b, ';')
		}
	}
	switch stop.Reason {
	case StopBreakpoint:
		b = append(b, "swbreak:;"...)
	case StopHWBreakpoint:
		b = append(b, "hwbreak:;"...)
	case StopWatch:
		name := "awatch"
		switch stop.Watch {
		case WatchWrite:
			name = "watch"
		case WatchRead:
			name = "rwatch"
		}
		b = fmt.Appendf(b, "%s:%x;", name, stop.Addr)
	case StopHistoryBegin:
		b = append(b, "replaylog:begin;"...)
	case StopHistoryEnd:
		b = append(b, "replaylog:end;"...)
	}
	return b
}

// console sends text to the debugger's console as O packets (allowed
// while gdb waits for a stop reply or a qRcmd answer).
func (s *stub) console(text string) error {
	chunk := (s.cfg.PacketSize - 1) / 2
	for len(text) > 0 {
		n := min(chunk, len(text))
		s.out = appendHex(append(s.out[:0], 'O'), []byte(text[:n]))
		if err := s.reply(s.out); err != nil {
			return err
		}
		text = text[n:]
	}
	return nil
}

// consoleWriter streams a monitor command's output to the debugger.
type consoleWriter struct {
	s   *stub
	err error
}

func (w *consoleWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		w.err = w.s.console(string(p))
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// whyHelp is the stub's own monitor command, listed after the target's.
const whyHelp = "why      explain the last request that failed (gdb shows memory errors only as \"Cannot access memory\")\n"

func (s *stub) monitor(hexCmd []byte) error {
	raw, ok := decodeHex(nil, hexCmd)
	if !ok {
		return s.replyError("qRcmd command is not hex")
	}
	cmd := strings.TrimSpace(string(raw))
	w := &consoleWriter{s: s}
	var err error
	switch cmd {
	case "why":
		if s.lastError == "" {
			_, err = io.WriteString(w, "no request has failed in this session\n")
		} else {
			_, err = io.WriteString(w, s.lastError+"\n")
		}
	default:
		err = s.t.Monitor(cmd, w)
		if cmd == "help" && w.err == nil {
			_, err = io.WriteString(w, whyHelp)
		}
	}
	if w.err != nil {
		return w.err
	}
	if err != nil {
		// gdb shows only "Protocol error" for an E reply to qRcmd: say it
		// as output instead.
		if err := s.console(fmt.Sprintf("monitor %s: %v\n", cmd, err)); err != nil {
			return err
		}
	}
	return s.reply(append(s.out[:0], "OK"...))
}
