package gdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// client plays gdb's side of the protocol over TCP on 127.0.0.1.
type client struct {
	t      *testing.T
	conn   net.Conn
	r      *bufio.Reader
	served chan error
	noAck  bool
}

func startStub(t *testing.T, m *fakeMachine, cfg Config) *client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- Serve(conn, m, cfg)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn), served: served}
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) readByte() byte {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.r.ReadByte()
	if err != nil {
		c.t.Fatalf("reading from the stub: %v", err)
	}
	return b
}

func (c *client) expectByte(want byte) {
	c.t.Helper()
	if got := c.readByte(); got != want {
		c.t.Fatalf("stub sent %q, want %q", got, want)
	}
}

// readPacket reads the stub's next packet, checks its checksum, acks it
// (in ack mode) and returns its data.
func (c *client) readPacket() string {
	c.t.Helper()
	for {
		b := c.readByte()
		if b == '$' {
			break
		}
		c.t.Fatalf("stub sent %q outside a packet", b)
	}
	var data []byte
	for b := c.readByte(); b != '#'; b = c.readByte() {
		data = append(data, b)
	}
	cs := string([]byte{c.readByte(), c.readByte()})
	if want := sum(string(data)); cs != want {
		c.t.Fatalf("packet %q has checksum %s, want %s", data, cs, want)
	}
	if !c.noAck {
		c.sendRaw("+")
	}
	return string(data)
}

// roundTrip sends a packet and returns the reply.
func (c *client) roundTrip(data string) string {
	c.t.Helper()
	c.sendRaw(frameOf(data))
	if !c.noAck {
		c.expectByte('+')
	}
	return c.readPacket()
}

// want sends a packet and checks the reply.
func (c *client) want(data, reply string) {
	c.t.Helper()
	if got := c.roundTrip(data); got != reply {
		c.t.Fatalf("%q: reply %q, want %q", data, got, reply)
	}
}

// wantPrefix sends a packet and checks the reply starts with prefix.
func (c *client) wantPrefix(data, prefix string) string {
	c.t.Helper()
	got := c.roundTrip(data)
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%q: reply %q, want %q...", data, got, prefix)
	}
	return got
}

// finish closes the connection and returns what Serve returned.
func (c *client) finish() error {
	c.t.Helper()
	c.conn.Close()
	select {
	case err := <-c.served:
		return err
	case <-time.After(5 * time.Second):
		c.t.Fatal("Serve did not return after the connection closed")
		return nil
	}
}

func TestBadChecksumIsRetransmitted(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.sendRaw("$qC#00")
	c.expectByte('-')
	c.want("qC", "QC1") // gdb sends it again
	if err := c.finish(); !isSessionLost(err) {
		t.Fatalf("Serve: %v, want a lost session", err)
	}
}

func isSessionLost(err error) bool {
	var lost *errSessionLost
	return errors.As(err, &lost)
}

func TestGarbageBetweenPackets(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.sendRaw("\r\nnoise#12$cut-off")
	c.want("qC", "QC1")
	c.sendRaw("\xff\xfe")
	c.want("qAttached", "1")
	if _, _, attaches, _ := m.state(); attaches != 1 {
		t.Errorf("%d attaches, want 1", attaches)
	}
}

func TestOversizePacket(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{PacketSize: 2000})
	c.wantPrefix("X0,800:"+strings.Repeat("a", 2100), "E.packet of 2107 bytes exceeds PacketSize=0x7d0")
	c.want("qC", "QC1") // and the stub still works
}

func TestUnknownPacketsGetEmptyReplies(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	for _, p := range []string{"vMustReplyEmpty", "qTStatus", "Qbogus", "!", "Z9,0,1", "bs", "bc", "vFile:open:6a7573742070726f62696e67,0,1c0", "jfoo", ""} {
		c.want(p, "")
	}
}

func TestRunLengthInputIsTolerated(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	// "mffffffff80100008,8" with three of its eight f's as a run length:
	// "ff" + "* " (the previous byte 3 more times) + "fff".
	raw := "mff* fff80100008,8"
	c.sendRaw("$" + raw + "#" + sum(raw))
	c.expectByte('+')
	if got := c.readPacket(); got != "8877665544332211" {
		t.Fatalf("reply %q", got)
	}
}

func TestNoAckMode(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want("QStartNoAckMode", "OK")
	c.noAck = true
	c.sendRaw(frameOf("qC"))
	if b := c.readByte(); b != '$' { // no '+' before the reply
		t.Fatalf("stub sent %q after no-ack mode", b)
	}
	c.r.UnreadByte()
	if got := c.readPacket(); got != "QC1" {
		t.Fatalf("reply %q", got)
	}
	// A bad packet gets no '-' now; the next one is answered.
	c.sendRaw("$qC#00")
	c.want("?", "T02thread:1;6:0000000000000000;7:f00f2080ffffffff;10:00000080ffffffff;")
}

func TestReplyResentOnNack(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.sendRaw(frameOf("qC"))
	c.expectByte('+')
	first := c.readPacket2(false)
	c.sendRaw("-")
	again := c.readPacket2(true)
	if first != "QC1" || again != "QC1" {
		t.Fatalf("reply %q then %q", first, again)
	}
}

// readPacket2 is readPacket with the ack chosen by the caller.
func (c *client) readPacket2(ack bool) string {
	saved := c.noAck
	c.noAck = !ack
	defer func() { c.noAck = saved }()
	return c.readPacket()
}

func TestTargetXMLInChunks(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.wantPrefix("qSupported:multiprocess+;swbreak+", "PacketSize=1000;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+")
	var doc []byte
	for {
		reply := c.roundTrip(fmt.Sprintf("qXfer:features:read:target.xml:%x,%x", len(doc), 300))
		if reply == "" || (reply[0] != 'm' && reply[0] != 'l') {
			t.Fatalf("reply %q", reply)
		}
		doc = append(doc, reply[1:]...)
		if reply[0] == 'l' {
			break
		}
	}
	if string(doc) != targetXML {
		t.Fatal("target.xml read in chunks differs from the description")
	}
	c.want(fmt.Sprintf("qXfer:features:read:target.xml:%x,100", len(doc)+5), "l")
	c.wantPrefix("qXfer:features:read:other.xml:0,100", "E.no feature document")
	c.wantPrefix("qXfer:features:read:target.xml:zz", "E.malformed")
}

// The description must be XML gdb can parse, name every register in
// g-packet order, and add up to 608 bytes as QEMU's does.
func TestTargetXMLDescribesTheRegisterFile(t *testing.T) {
	var doc struct {
		Arch     string `xml:"architecture"`
		Features []struct {
			Name string `xml:"name,attr"`
			Regs []struct {
				Name string `xml:"name,attr"`
				Bits int    `xml:"bitsize,attr"`
			} `xml:"reg"`
		} `xml:"feature"`
	}
	if err := xml.Unmarshal([]byte(targetXML), &doc); err != nil {
		t.Fatalf("target.xml: %v", err)
	}
	if strings.ContainsAny(targetXML, "$#}*") {
		t.Error("target.xml has bytes that need escaping: chunks would exceed the packet size")
	}
	if doc.Arch != "i386:x86-64" {
		t.Errorf("architecture %q", doc.Arch)
	}
	var names []string
	bytes := 0
	for _, f := range doc.Features {
		for _, r := range f.Regs {
			names = append(names, r.Name)
			bytes += r.Bits / 8
		}
	}
	want := strings.Fields(`rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip eflags
		cs ss ds es fs gs st0 st1 st2 st3 st4 st5 st6 st7 fctrl fstat ftag fiseg fioff foseg fooff fop
		xmm0 xmm1 xmm2 xmm3 xmm4 xmm5 xmm6 xmm7 xmm8 xmm9 xmm10 xmm11 xmm12 xmm13 xmm14 xmm15 mxcsr
		fs_base gs_base k_gs_base cr0 cr2 cr3 cr4 cr8 efer`)
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("registers\n%v\nwant\n%v", names, want)
	}
	if bytes != 608 || registerBytes != 608 {
		t.Errorf("register block: %d bytes in the XML, %d in the table; want 608", bytes, registerBytes)
	}
}

func TestRegistersEncoding(t *testing.T) {
	m := newFakeMachine()
	m.regs.RAX = 0x1122334455667788
	m.regs.RFLAGS = 0x246
	m.regs.GS = 0x2B
	m.regs.ST[7] = [10]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	m.regs.XMM[15] = [16]byte{15: 0xEE}
	m.regs.EFER = 0xD01
	c := startStub(t, m, Config{})
	g := c.roundTrip("g")
	if len(g) != 2*608 {
		t.Fatalf("g reply has %d hex digits, want %d", len(g), 2*608)
	}
	raw, _ := hex.DecodeString(g)
	check := func(name string, want []byte) {
		t.Helper()
		off := 0
		for _, d := range registerTable {
			if d.name == name {
				if got := raw[off : off+d.bits/8]; !bytes.Equal(got, want) {
					t.Errorf("%s at offset %d: % x, want % x", name, off, got, want)
				}
				return
			}
			off += d.bits / 8
		}
		t.Fatalf("no register %s", name)
	}
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	check("rax", le64(0x1122334455667788))
	check("rip", le64(fakeCode))
	check("eflags", []byte{0x46, 0x02, 0, 0})
	check("gs", []byte{0x2B, 0, 0, 0})
	check("st7", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	check("xmm15", append(make([]byte, 15), 0xEE))
	check("efer", le64(0xD01))
	// p reads one register; numbers are hex.
	c.want(fmt.Sprintf("p%x", registerByName("cr3")), "0010000000000000")
	c.want(fmt.Sprintf("p%x", registerByName("mxcsr")), "801f0000")
	c.wantPrefix("p99", "E.no register")
}

func TestWritesRefusedWhileReplaying(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.wantPrefix("P0=0100000000000000", "E.writing register rax refused: the backup is replaying")
	c.wantPrefix("G"+strings.Repeat("00", 608), "E.writing registers refused")
	c.wantPrefix("Mffffffff80100000,1:05", "E.writing 1 bytes of memory at 0xffffffff80100000 refused")
	c.wantPrefix("Xffffffff80100000,0:", "E.writing 0 bytes")
	got := c.roundTrip("qRcmd," + hex.EncodeToString([]byte("why")))
	if text := decodeO(t, got); !strings.Contains(text, "writing 0 bytes of memory at 0xffffffff80100000 refused: the backup is replaying") {
		t.Errorf("monitor why: %q", text)
	}
	c.expectOK()
	if regs, _, _, _ := m.state(); regs.RAX != 0 {
		t.Error("rax changed")
	}
}

// decodeO decodes an O packet's text.
func decodeO(t *testing.T, p string) string {
	t.Helper()
	if !strings.HasPrefix(p, "O") {
		t.Fatalf("packet %q is not console output", p)
	}
	b, err := hex.DecodeString(p[1:])
	if err != nil {
		t.Fatalf("O packet %q: %v", p, err)
	}
	return string(b)
}

func (c *client) expectOK() {
	c.t.Helper()
	if got := c.readPacket(); got != "OK" {
		c.t.Fatalf("got %q, want OK", got)
	}
}

func TestWritesWhenLive(t *testing.T) {
	m := newFakeMachine()
	m.live = true
	c := startStub(t, m, Config{})
	c.want("P0=efbeadde00000000", "OK")
	c.want(fmt.Sprintf("P%x=2b000000", registerByName("gs")), "OK")
	c.wantPrefix(fmt.Sprintf("P%x=00000100", registerByName("gs")), "E.gs: 0x10000 does not fit")
	c.wantPrefix("P0=00", "E.register rax takes 16 hex digits")
	// X carries binary data with '#', '$', '}' and '*' escaped.
	data := []byte{'#', '$', '}', '*', 0, 0x03, 0xFF, 'x'}
	x := string(appendEscaped([]byte("Xffffffff80100000,8:"), data))
	c.want(x, "OK")
	c.want("mffffffff80100000,8", hex.EncodeToString(data))
	c.want("Mffffffff80100000,2:abcd", "OK")
	c.want("mffffffff80100000,2", "abcd")
	c.wantPrefix("Mffffffff80300000,1:00", "E.writing memory at 0xffffffff80300000")
	c.wantPrefix("Mffffffff80100000,2:ab", "E.memory write of 2 bytes carries 1")
	regs, _, _, _ := m.state()
	if regs.RAX != 0xdeadbeef || regs.GS != 0x2b {
		t.Errorf("rax %#x gs %#x", regs.RAX, regs.GS)
	}
	// G round trip: what g reads, G writes back unchanged.
	g := c.roundTrip("g")
	c.want("G"+g, "OK")
	if after, _, _, _ := m.state(); after != regs {
		t.Errorf("G of the g reply changed registers:\n%+v\n%+v", after, regs)
	}
}

func TestMemoryReads(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want("mffffffff80100008,8", "8877665544332211")
	c.want("mffffffff80300000,8", "E14") // unmapped
	// A read running into an unmapped page returns what precedes it.
	c.want("mffffffff80200ffe,4", "0000")
	// Through the 2 MiB page, physical memory ends at 64 KiB.
	c.want("mffffffff8040fffe,4", "0000")
	c.want("mffffffff80410000,1", "E14")
	why := decodeO(t, c.roundTrip("qRcmd,"+hex.EncodeToString([]byte("why"))))
	if !strings.Contains(why, "outside guest RAM") {
		t.Errorf("monitor why: %q", why)
	}
	c.expectOK()
	// Reads are capped to what fits a reply.
	if got := c.roundTrip("mffffffff80000000,10000"); len(got) != DefaultPacketSize {
		t.Errorf("a 64 KiB read returned %d hex digits, want %d", len(got), DefaultPacketSize)
	}
}

func TestThreadsAndQueries(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want("qfThreadInfo", "m1")
	c.want("qsThreadInfo", "l")
	c.want("qC", "QC1")
	c.want("qAttached", "1")
	c.want("qAttached:a410", "1")
	c.want("Hg0", "OK")
	c.want("Hc-1", "OK")
	c.want("Hgp1.1", "OK")
	c.wantPrefix("Hg2", "E.unknown thread")
	c.want("T1", "OK")
	c.wantPrefix("T2", "E.")
	c.want("vCont?", "vCont;c;C;s;S")
}

func TestStepAndContinue(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.wantPrefix("vCont;s:1;c", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:07000080ffffffff;")
	c.wantPrefix("s", "T05thread:1;")
	c.wantPrefix("S05", "T05thread:1;")
	c.wantPrefix("vCont;c:2;s:1", "T05thread:1;") // the action for thread 2 does not apply
	if regs, executed, _, _ := m.state(); executed != 4 || regs.RIP != fakeNop {
		t.Fatalf("after 4 steps: %d executed, rip %#x", executed, regs.RIP)
	}
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeStore)), "OK")
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeStore)), "OK") // twice is harmless
	c.want("vCont;c", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:0a000080ffffffff;swbreak:;")
	c.want("c", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:0a000080ffffffff;swbreak:;")
	c.want(fmt.Sprintf("z0,%x,1", uint64(fakeStore)), "OK")
	c.want(fmt.Sprintf("z0,%x,1", uint64(fakeStore)), "OK") // removing what is gone
	c.want(fmt.Sprintf("Z1,%x,1", uint64(fakeLoad)), "OK")
	c.wantPrefix("c", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:11000080ffffffff;hwbreak:;")
	c.want(fmt.Sprintf("z1,%x,1", uint64(fakeLoad)), "OK")
	c.want(fmt.Sprintf("Z2,%x,8", uint64(fakeCounter)), "OK")
	c.want("c", fmt.Sprintf("T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:11000080ffffffff;watch:%x;", uint64(fakeCounter)))
	c.want(fmt.Sprintf("z2,%x,8", uint64(fakeCounter)), "OK")
	c.want(fmt.Sprintf("Z4,%x,8", uint64(fakeInput)), "OK")
	c.want("c", fmt.Sprintf("T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:18000080ffffffff;awatch:%x;", uint64(fakeInput)))
	c.wantPrefix("cffffffff80000000", "E.resuming at another address")
	c.wantPrefix("C05;ffffffff80000000", "E.resuming at another address")
	c.wantPrefix("vCont;t", "E.vCont action")
}

func TestReverseExecution(t *testing.T) {
	m := newFakeMachine()
	m.reverse = true
	c := startStub(t, m, Config{})
	c.wantPrefix("qSupported", "PacketSize=1000;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+;ReverseStep+;ReverseContinue+")
	c.wantPrefix("s", "T05")
	c.wantPrefix("s", "T05")
	c.want("bs", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:07000080ffffffff;")
	c.want("bc", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:00000080ffffffff;replaylog:begin;")
	m.logEnd = 5
	c.want("c", "T05thread:1;6:0000000000000000;7:f00f2080ffffffff;10:19000080ffffffff;replaylog:end;")
}

func TestReplicaEnded(t *testing.T) {
	m := newFakeMachine()
	m.endAt = 3
	c := startStub(t, m, Config{})
	c.sendRaw(frameOf("c"))
	c.expectByte('+')
	if text := decodeO(t, c.readPacket()); text != "the guest triple-faulted\n" {
		t.Errorf("message %q", text)
	}
	c.wantStop("T06thread:1;")
	c.wantPrefix("?", "T06thread:1;")
}

func TestMonitor(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	monitor := func(cmd string) string {
		t.Helper()
		c.sendRaw(frameOf("qRcmd," + hex.EncodeToString([]byte(cmd))))
		c.expectByte('+')
		var out strings.Builder
		for {
			p := c.readPacket()
			if p == "OK" {
				return out.String()
			}
			out.WriteString(decodeO(t, p))
		}
	}
	if got := monitor("help"); !strings.Contains(got, "info     instructions executed") || !strings.Contains(got, "why      explain") {
		t.Errorf("monitor help: %q", got)
	}
	if got := monitor("info"); got != "executed 0 instructions; the log ends at 4611686018427387904\n" {
		t.Errorf("monitor info: %q", got)
	}
	if got := monitor("bogus"); got != "monitor bogus: unknown command \"bogus\" (try monitor help)\n" {
		t.Errorf("monitor bogus: %q", got)
	}
	if got := monitor("why"); got != "no request has failed in this session\n" {
		t.Errorf("monitor why: %q", got)
	}
	c.wantPrefix("qRcmd,zz", "E.qRcmd command is not hex")
}

// Monitor output longer than a packet arrives in several O packets.
func TestMonitorOutputSplitsIntoPackets(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{PacketSize: minPacketSize})
	long := strings.Repeat("0123456789", 300)
	m.monitorOutput = long
	c.sendRaw(frameOf("qRcmd," + hex.EncodeToString([]byte("echo"))))
	c.expectByte('+')
	var out strings.Builder
	packets := 0
	for p := c.readPacket(); p != "OK"; p = c.readPacket() {
		if len(p) > minPacketSize {
			t.Fatalf("O packet of %d bytes, PacketSize %d", len(p), minPacketSize)
		}
		out.WriteString(decodeO(t, p))
		packets++
	}
	if out.String() != long || packets < 2 {
		t.Errorf("%d packets carried %d bytes, want %d", packets, out.Len(), len(long))
	}
}

func TestInterruptWhileRunning(t *testing.T) {
	m := newFakeMachine()
	m.resumeStarted = make(chan struct{}, 1)
	c := startStub(t, m, Config{})
	c.sendRaw(frameOf("c"))
	c.expectByte('+')
	<-m.resumeStarted
	c.sendRaw("\x03")
	c.wantStop("T02thread:1;")
	if _, executed, _, _ := m.state(); executed == 0 {
		t.Error("the target did not run before the interrupt")
	}
}

// A Ctrl-C sent right behind the continue, before the target starts,
// must not be lost.
func TestInterruptRightAfterContinue(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want("qC", "QC1")
	c.sendRaw(frameOf("vCont;c") + "\x03")
	c.expectByte('+')
	c.wantStop("T02thread:1;")
	// A stale Ctrl-C (sent while stopped) does not stop the next run.
	c.sendRaw("\x03")
	c.want("qC", "QC1")
	c.wantPrefix("s", "T05thread:1;")
}

func (c *client) wantStop(prefix string) {
	c.t.Helper()
	if got := c.readPacket(); !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("stop reply %q, want %q...", got, prefix)
	}
}

// A debugger that disconnects while the target runs must not leave it
// stopped: Resume is cancelled, the breakpoints go, the target detaches,
// and Serve reports the lost session.
func TestDisconnectWhileRunning(t *testing.T) {
	m := newFakeMachine()
	m.resumeStarted = make(chan struct{}, 1)
	c := startStub(t, m, Config{})
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeUnmapped)), "OK") // never reached
	c.want(fmt.Sprintf("Z2,%x,8", uint64(fakeStack)), "OK")    // never written
	c.sendRaw(frameOf("c"))
	c.expectByte('+')
	<-m.resumeStarted
	err := c.finish()
	if !isSessionLost(err) || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Serve: %v, want a lost session", err)
	}
	if !strings.Contains(err.Error(), "detached and runs freely") {
		t.Errorf("error %q does not say the target runs", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.detaches != 1 || m.leftAtDetach != 0 {
		t.Errorf("%d detaches with %d breakpoints left; want 1 with none", m.detaches, m.leftAtDetach)
	}
}

func TestDisconnectWhileStopped(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want(fmt.Sprintf("Z1,%x,1", uint64(fakeStore)), "OK")
	if err := c.finish(); !isSessionLost(err) {
		t.Fatalf("Serve: %v", err)
	}
	if _, _, _, detaches := m.state(); detaches != 1 || m.leftAtDetach != 0 {
		t.Errorf("%d detaches, %d breakpoints left", detaches, m.leftAtDetach)
	}
}

// Sessions follow each other on one connection (a serial line): D ends
// one, the next packet starts another; a qSupported inside a session
// replaces a debugger that vanished without D, its breakpoints gone and
// the target still stopped (no detach, no new attach). The connection
// ending between sessions is not an error.
func TestSessionsOnOneConnection(t *testing.T) {
	m := newFakeMachine()
	c := startStub(t, m, Config{})
	c.want("QStartNoAckMode", "OK")
	c.noAck = true
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeStore)), "OK")
	c.want("D", "OK")
	c.noAck = false // the next debugger starts in ack mode
	c.wantPrefix("qSupported", "PacketSize")
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeStore)), "OK")
	c.wantPrefix("qSupported", "PacketSize") // the first gdb vanished
	c.want("vKill;a410", "OK")
	c.sendRaw(frameOf("qC"))
	c.expectByte('+')
	c.readPacket()
	c.sendRaw(frameOf("k"))
	c.expectByte('+')
	if err := c.finish(); err != nil {
		t.Fatalf("Serve: %v, want nil after the last session ended", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attaches != 3 || m.detaches != 3 || m.leftAtDetach != 0 {
		t.Errorf("%d attaches, %d detaches, %d breakpoints left; want 3, 3, 0", m.attaches, m.detaches, m.leftAtDetach)
	}
}

func TestAttachRefused(t *testing.T) {
	m := newFakeMachine()
	m.attachErr = errors.New("no backup is running")
	c := startStub(t, m, Config{})
	c.want("qSupported", "E.the target cannot be debugged now: no backup is running")
	m.mu.Lock()
	m.attachErr = nil
	m.mu.Unlock()
	c.wantPrefix("qSupported", "PacketSize")
}

func TestPacketSizeTooSmall(t *testing.T) {
	err := Serve(struct {
		io.Reader
		io.Writer
	}{strings.NewReader(""), io.Discard}, newFakeMachine(), Config{PacketSize: 100})
	if err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("Serve: %v", err)
	}
}

func TestEOFBeforeAnySession(t *testing.T) {
	err := Serve(struct {
		io.Reader
		io.Writer
	}{strings.NewReader("+"), io.Discard}, newFakeMachine(), Config{})
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// FuzzPackets sends arbitrary packets, framed correctly, one per line of
// the input: the stub must answer or refuse each without crashing and
// end when the input does, leaving the target detached.
func FuzzPackets(f *testing.F) {
	for _, seed := range []string{
		"qSupported\ng\nmffffffff80000000,10\nvCont;s:1;c\nD",
		"Z0,ffffffff8000000a,1\nc\nz0,ffffffff8000000a,1\nbs\nbc",
		"P10=00\nG00\nXffffffff80100000,1:}\nqRcmd,68656c70\nqXfer:features:read:target.xml:0,10",
		"vCont;c:zz\nH\nT\nZ2,ffffffff80100000,8\ns\nk\nqAttached",
		"mffffffffffffffff,ffffffffffffffff\nmffffffff80000000,\nqRcmd,7768\nvKill;1",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newFakeMachine()
		m.logEnd = 100 // so that continue ends
		m.reverse = true
		m.live = len(data) > 0 && data[0]&1 != 0
		var in []byte
		for p := range bytes.SplitSeq(data, []byte{'\n'}) {
			in = appendPacket(in, appendEscaped(nil, p))
		}
		err := Serve(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), io.Discard}, m, Config{})
		if err != nil && !isSessionLost(err) {
			t.Fatalf("Serve: %v", err)
		}
		if m.attaches != m.detaches || m.leftAtDetach != 0 {
			t.Fatalf("%d attaches, %d detaches, %d breakpoints left", m.attaches, m.detaches, m.leftAtDetach)
		}
	})
}

// A new debugger on a line whose old one vanished while the target ran:
// its qSupported interrupts the run, and it takes the session over with
// the target stopped and the old breakpoints gone (no detach: a replica
// waiting for a debugger is not let go by the hand-over).
func TestNewDebuggerWhileRunning(t *testing.T) {
	m := newFakeMachine()
	m.resumeStarted = make(chan struct{}, 1)
	c := startStub(t, m, Config{})
	c.want(fmt.Sprintf("Z0,%x,1", uint64(fakeUnmapped)), "OK") // never reached
	c.sendRaw(frameOf("c"))
	c.expectByte('+')
	<-m.resumeStarted
	// The first gdb is gone; the second connects: "+", then qSupported.
	c.sendRaw("+" + frameOf("qSupported:multiprocess+"))
	c.expectByte('+') // the qSupported's ack; the interrupted run has no stop reply (the new debugger would take it for the answer)
	if got := c.readPacket(); !strings.HasPrefix(got, "PacketSize") {
		t.Fatalf("qSupported reply %q", got)
	}
	m.mu.Lock()
	attaches, detaches, left := m.attaches, m.detaches, len(m.breaks)
	m.mu.Unlock()
	if attaches != 1 || detaches != 0 || left != 0 {
		t.Errorf("%d attaches, %d detaches, %d breakpoints left; want 1, 0, 0", attaches, detaches, left)
	}
	c.wantPrefix("?", "T02thread:1;") // still stopped where the run was interrupted
}
