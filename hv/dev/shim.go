package dev

// Temporary bridge to the new PC API until the device-model rework lands.

import "unsafe"

const NoEvent = ^uint64(0)

type UnclaimedAccess struct {
	Port  uint16
	Write bool
	Size  int
	Value uint32
}

type shimState struct {
	out     [64]byte
	nout    int
	unc     [8]UnclaimedAccess
	nunc    int
}

var shims = map[*PC]*shimState{}

func (pc *PC) shim() *shimState { return shims[pc] }

func (pc *PC) Init2(rtcBase int64) {
	s := &shimState{}
	shims[pc] = s
	pc.Init(func(b byte) {
		if s.nout < len(s.out) {
			s.out[s.nout] = b
			s.nout++
		}
	}, func(port uint16, write bool, size int, value uint32) {
		if s.nunc < len(s.unc) {
			s.unc[s.nunc] = UnclaimedAccess{port, write, size, value}
			s.nunc++
		}
	})
	pc.RTC.SetTime(rtcBase)
}

func (pc *PC) NextEvent() uint64 { return pc.PIT.NextIRQ(pc.PIT.Now()) }

func (pc *PC) Timed(port uint16) bool {
	return port >= 0x40 && port <= 0x43 || port == 0x61 || port == 0x70 || port == 0x71
}

func (pc *PC) TakeOutput(dst []byte) int {
	s := pc.shim()
	n := copy(dst, s.out[:s.nout])
	s.nout = 0
	return n
}

func (pc *PC) TakeUnclaimed() (UnclaimedAccess, bool) {
	s := pc.shim()
	if s.nunc == 0 {
		return UnclaimedAccess{}, false
	}
	a := s.unc[0]
	copy(s.unc[:], s.unc[1:s.nunc])
	s.nunc--
	return a, true
}

func (pc *PC) Digest(h uint64) uint64 {
	mix := func(b []byte) {
		for _, x := range b {
			h = (h ^ uint64(x)) * 0x100000001b3
		}
	}
	mix(unsafe.Slice((*byte)(unsafe.Pointer(&pc.PIC)), unsafe.Sizeof(pc.PIC)))
	mix(unsafe.Slice((*byte)(unsafe.Pointer(&pc.PIT)), unsafe.Sizeof(pc.PIT)))
	mix(unsafe.Slice((*byte)(unsafe.Pointer(&pc.UART.uartState)), unsafe.Sizeof(pc.UART.uartState)))
	mix(unsafe.Slice((*byte)(unsafe.Pointer(&pc.RTC)), unsafe.Sizeof(pc.RTC)))
	return h
}

func (pc *PC) CanReceive() bool { return pc.UART.CanReceive() }
