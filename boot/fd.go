package boot

import "unsafe"

// File descriptors: 0-2 are the console; the runtime's netpoller adds an
// epoll instance and an eventfd (netpollBreak). Nothing else is opened.

const maxFDs = 64

type fdKind uint8

const (
	fdNone fdKind = iota
	fdConsole
	fdEpoll
	fdEventfd
)

const maxEpollWatch = 8

type epollWatch struct {
	fd     int32
	events uint32
	data   uint64
}

type fdEntry struct {
	kind   fdKind
	count  uint64 // eventfd counter
	watch  [maxEpollWatch]epollWatch
	nwatch int
}

var fds [maxFDs]fdEntry

func initFDs() {
	for i := 0; i < 3; i++ {
		fds[i].kind = fdConsole
	}
}

func fdGet(fd uint64) *fdEntry {
	if fd >= maxFDs || fds[fd].kind == fdNone {
		return nil
	}
	return &fds[fd]
}

func fdNew(kind fdKind) uint64 {
	for i := 3; i < maxFDs; i++ {
		if fds[i].kind == fdNone {
			fds[i] = fdEntry{kind: kind}
			return uint64(i)
		}
	}
	return errno(EMFILE)
}

func fdClose(fd uint64) uint64 {
	e := fdGet(fd)
	if e == nil {
		return errno(EBADF)
	}
	if fd >= 3 {
		*e = fdEntry{}
	}
	return 0
}

func sysEventfd2Impl(initval, flags uint64) uint64 {
	fd := fdNew(fdEventfd)
	if fd < maxFDs {
		fds[fd].count = initval
	}
	return fd
}

const (
	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3
	epollIn     = 0x1
)

func sysEpollCtlImpl(epfd uint64, op int, fd, event uint64) uint64 {
	ep := fdGet(epfd)
	if ep == nil || ep.kind != fdEpoll || fdGet(fd) == nil {
		return errno(EBADF)
	}
	i := 0
	for i < ep.nwatch && uint64(ep.watch[i].fd) != fd {
		i++
	}
	switch op {
	case epollCtlAdd, epollCtlMod:
		if !userAccess(event, 12, false) {
			return errno(EFAULT)
		}
		if i == ep.nwatch {
			if op == epollCtlMod {
				return errno(ENOENT)
			}
			if i == maxEpollWatch {
				return errno(ENOMEM)
			}
			ep.nwatch++
		}
		// struct epoll_event is packed on x86-64: u32 events, u64 data.
		p := uintptr(event)
		ep.watch[i] = epollWatch{int32(fd), *(*uint32)(unsafe.Pointer(p)), *(*uint64)(unsafe.Pointer(p + 4))}
	case epollCtlDel:
		if i == ep.nwatch {
			return errno(ENOENT)
		}
		ep.nwatch--
		ep.watch[i] = ep.watch[ep.nwatch]
	default:
		return errno(EINVAL)
	}
	return 0
}

// epollCollect writes ready events (eventfds with a non-zero count) to the
// user buffer and returns how many. Precondition: buffer checked.
func epollCollect(ep *fdEntry, events uint64, maxev int32) int32 {
	n := int32(0)
	for i := 0; i < ep.nwatch && n < maxev; i++ {
		w := &ep.watch[i]
		e := &fds[w.fd]
		if e.kind == fdEventfd && e.count > 0 && w.events&epollIn != 0 {
			p := uintptr(events) + uintptr(n)*12
			*(*uint32)(unsafe.Pointer(p)) = epollIn
			*(*uint64)(unsafe.Pointer(p + 4)) = w.data
			n++
		}
	}
	return n
}

func sysEpollPwaitImpl(c *cpu, epfd, events uint64, maxev int32, timeoutMs int64) uint64 {
	ep := fdGet(epfd)
	if ep == nil || ep.kind != fdEpoll {
		return errno(EBADF)
	}
	if maxev <= 0 {
		return errno(EINVAL)
	}
	if !userAccess(events, uint64(maxev)*12, true) {
		return errno(EFAULT)
	}
	if n := epollCollect(ep, events, maxev); n > 0 || timeoutMs == 0 {
		return uint64(n)
	}
	var deadline int64
	if timeoutMs > 0 {
		deadline = nanotime() + timeoutMs*1e6
	}
	blockCurrent(c, blockEpoll, deadline)
	t := &threads[c.running]
	t.epfd, t.events, t.maxev = int32(epfd), events, maxev
	return 0
}

// eventfdReady wakes the threads waiting in epoll_pwait whose epoll now has
// a ready eventfd.
func eventfdReady() {
	for i := range threads {
		t := &threads[i]
		if t.state != tsBlocked || t.block != blockEpoll {
			continue
		}
		ep := &fds[t.epfd]
		if n := epollCollect(ep, t.events, t.maxev); n > 0 {
			wake(int32(i), uint64(n))
		}
	}
}
