package boot

import (
	"sync/atomic"
	"unsafe"

	"hindsight/apic"
)

// Threads and scheduling. A thread is an OS thread of the Go runtime (an M).
// Threads never block inside the kernel: a blocking system call parks the
// thread with its result still to be written, and whoever wakes it (another
// syscall, or the tick when a deadline passes) fills in RAX. So one kernel
// stack per CPU suffices and a switch is just changing cpu.cur.
//
// All scheduler state is guarded by klock. Kernel code runs with interrupts
// off, and holds klock only for short, bounded work.

const maxThreads = 256

type threadState uint32

const (
	tsFree threadState = iota
	tsRunnable
	tsRunning
	tsBlocked
)

type blockKind uint8

const (
	blockNone blockKind = iota
	blockFutex
	blockEpoll
	blockSleep
)

type thread struct {
	f        frame
	fx       fxArea
	state    threadState
	tid      int32
	cpu      int32  // CPU running it, -1 if none
	affinity uint64 // allowed CPUs (bit i: cpus[i])
	onCPU    uint64 // TSC ticks spent running, up to its CPU's last switch (charge)

	// Blocking: what the thread waits for and until when (0: no deadline).
	block    blockKind
	waitAddr uint64
	deadline int64
	epfd     int32
	events   uint64 // epoll_pwait: user buffer and capacity
	maxev    int32

	// Signals (signal.go).
	sigPending uint64
	sigBlocked uint64
	altSP      uint64
	altSize    uint64
	altFlags   int32
	sigInfo    [65]sigFault // per-signal fault details for synchronous signals
}

type sigFault struct {
	code int32
	addr uint64
}

var (
	klock   uint32
	threads [maxThreads]thread
	nextTID int32 = 1

	runq struct {
		q    [maxThreads]int32
		head int // index of the first entry
		n    int
	}
	onlineMask uint64 // CPUs that run threads
	ncpu       int
)

var lapic = apic.LAPIC{Base: apic.DefaultBase}

// Vectors of the kernel's own interrupts.
const (
	vecTimer    = 0x20
	vecWakeup   = 0x21
	vecConsole  = 0x22 // COM1 input, routed to CPU0 only
	vecSpurious = 0xFF
)

func lock() {
	for !atomic.CompareAndSwapUint32(&klock, 0, 1) {
		for atomic.LoadUint32(&klock) != 0 {
			if atomic.LoadUint32(&stopAll) != 0 {
				// The holder is stopping the machine (shutdown) and will
				// not release the lock: an NMI this CPU took as a VM
				// exit may not reach nmiEntry, so park here.
				parkStopped()
			}
			pause()
		}
	}
}

func unlock() { atomic.StoreUint32(&klock, 0) }

// newThread takes a free slot; nil if the table is full.
func newThread() (int32, *thread) {
	for i := range threads {
		t := &threads[i]
		if t.state == tsFree {
			*t = thread{}
			t.f.fxptr = t.fx.aligned()
			t.tid = nextTID
			nextTID++
			t.cpu = -1
			t.affinity = onlineMask
			return int32(i), t
		}
	}
	return -1, nil
}

// makeRunnable queues t and wakes an idle CPU allowed to run it.
// Precondition: klock held.
func makeRunnable(idx int32) {
	t := &threads[idx]
	t.state = tsRunnable
	t.block = blockNone
	runq.q[(runq.head+runq.n)%maxThreads] = idx
	runq.n++
	self := thisCPU().id
	for i := 0; i < ncpu; i++ {
		c := &cpus[i]
		if i != self && c.running < 0 && t.affinity&(1<<uint(i)) != 0 {
			lapic.SendIPI(c.apicID, vecWakeup)
			return
		}
	}
}

// dequeue removes and returns the first queued thread allowed on CPU id.
func dequeue(id int) int32 {
	k := firstFor(id)
	if k < 0 {
		return -1
	}
	idx := runq.q[(runq.head+k)%maxThreads]
	for j := k; j > 0; j-- { // close the gap, keeping FIFO order
		runq.q[(runq.head+j)%maxThreads] = runq.q[(runq.head+j-1)%maxThreads]
	}
	runq.head = (runq.head + 1) % maxThreads
	runq.n--
	return idx
}

// firstFor returns the queue position of the first thread allowed on CPU
// id, or -1.
func firstFor(id int) int {
	for k := 0; k < runq.n; k++ {
		if threads[runq.q[(runq.head+k)%maxThreads]].affinity&(1<<uint(id)) != 0 {
			return k
		}
	}
	return -1
}

// runnableFor reports whether a queued thread could run on CPU id.
func runnableFor(id int) bool { return firstFor(id) >= 0 }

// threadByTID returns the live thread with Linux thread ID tid, or nil.
func threadByTID(tid uint64) *thread {
	for i := range threads {
		if t := &threads[i]; t.state != tsFree && uint64(t.tid) == tid {
			return t
		}
	}
	return nil
}

// schedule decides what c runs next: the current thread if it is still
// running and may stay, else the next runnable thread, else the idle loop.
// Precondition: klock held.
func schedule(c *cpu, preempt bool) {
	if cur := c.running; cur >= 0 {
		t := &threads[cur]
		allowed := t.affinity&(1<<uint(c.id)) != 0
		if t.state == tsRunning && allowed && !(preempt && runnableFor(c.id)) {
			setCurrent(c, cur)
			return
		}
		if t.state == tsRunning { // preempted or migrating
			t.cpu = -1
			makeRunnable(cur)
		}
		charge(c)
		c.running = -1
	}
	if idx := dequeue(c.id); idx >= 0 {
		threads[idx].state = tsRunning
		threads[idx].cpu = int32(c.id)
		charge(c)
		c.running = idx
		c.slice = c.ticks
		setCurrent(c, idx)
		return
	}
	c.cur = uintptr(unsafe.Pointer(&c.idle))
}

// charge adds the time since c's last switch to the thread running on c
// (none for the idle loop); call it before c.running changes.
func charge(c *cpu) {
	now := rdtsc()
	if c.running >= 0 {
		threads[c.running].onCPU += now - c.switched
	}
	atomic.StoreUint64(&c.switched, now)
}

// setCurrent points the CPU at thread idx's frame, delivering a pending
// signal first.
func setCurrent(c *cpu, idx int32) {
	t := &threads[idx]
	deliverSignals(t)
	c.cur = uintptr(unsafe.Pointer(&t.f))
}

// blockCurrent parks the running thread; schedule then picks another.
func blockCurrent(c *cpu, kind blockKind, deadline int64) {
	t := &threads[c.running]
	t.state = tsBlocked
	t.block = kind
	t.deadline = deadline
	t.cpu = -1
}

// wake makes a blocked thread runnable with the given system call result.
func wake(idx int32, result uint64) {
	t := &threads[idx]
	t.f.rax = result
	makeRunnable(idx)
}

// expireDeadlines wakes threads whose timeout has passed. Precondition:
// klock held.
func expireDeadlines(now int64) {
	for i := range threads {
		t := &threads[i]
		if t.state == tsBlocked && t.deadline != 0 && now >= t.deadline {
			var r uint64
			if t.block == blockFutex {
				r = errno(ETIMEDOUT)
			}
			wake(int32(i), r)
		}
	}
}
