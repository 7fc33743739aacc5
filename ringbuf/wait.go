package ringbuf

import (
	"runtime"
	"time"
)

// Backoff says how WaitWrite and WaitRead wait: first Spin polls with a
// PAUSE between them, then Yield polls with runtime.Gosched between them,
// then polls with sleeps doubling from 1µs up to MaxSleep. Stop (if not
// nil) is called once per poll after the first check and makes the wait
// return ErrStopped when it reports true; Deadline (if not zero) makes it
// return ErrDeadline once passed (checked every few spins, then every
// poll). A nil *Backoff means the defaults. A hypervisor loop that must not
// sleep sets Yield and MaxSleep negative and bails out through Stop.
type Backoff struct {
	Spin     int           // PAUSE polls before yielding; 0: 256, negative: none
	Yield    int           // Gosched polls before sleeping; 0: 64, negative: none
	MaxSleep time.Duration // cap on the sleep; 0: 1ms, negative: never sleep (keep yielding)
	Deadline time.Time     // zero: no deadline
	Stop     func() bool   // nil: never stop
}

const (
	defaultSpin     = 256
	defaultYield    = 64
	defaultMaxSleep = time.Millisecond
	deadlineEvery   = 64 // spins between deadline checks
)

// WaitWrite waits until at least n slots are free (n in [1, Capacity]).
// It returns nil when they are, ErrStopped or ErrDeadline when the Backoff
// says to give up. A wait that had to wait counts once in Stats().Stalls.
// Producer side; does not allocate unless it sleeps.
func (r *Ring) WaitWrite(n int, b *Backoff) error {
	if n < 1 || uint64(n) > r.cap {
		return errorf(ErrCapacity, "wait", "cannot wait for %d free slots in a ring of capacity %d", n, r.cap)
	}
	want := uint64(n)
	if r.free() >= want {
		return nil
	}
	return r.wait(b, func() bool {
		r.refreshLimit()
		return r.free() >= want
	}, r.pstall)
}

// WaitRead waits until at least n records are unread (n in [1, Capacity]).
// It returns nil when they are, ErrStopped or ErrDeadline when the Backoff
// says to give up. A wait that had to wait counts once in
// Stats().EmptyPolls. Consumer side; does not allocate unless it sleeps.
func (r *Ring) WaitRead(n int, b *Backoff) error {
	if n < 1 || uint64(n) > r.cap {
		return errorf(ErrCapacity, "wait", "cannot wait for %d records in a ring of capacity %d", n, r.cap)
	}
	want := uint64(n)
	if r.avail() >= want {
		return nil
	}
	return r.wait(b, func() bool {
		r.refreshHead()
		return r.avail() >= want
	}, r.cempty)
}

func (r *Ring) wait(b *Backoff, ready func() bool, counter *uint64) error {
	if ready() {
		return nil
	}
	bump(counter)
	var o Backoff
	if b != nil {
		o = *b
	}
	spin, yield, maxSleep := o.Spin, o.Yield, o.MaxSleep
	if spin == 0 {
		spin = defaultSpin
	}
	if yield == 0 {
		yield = defaultYield
	}
	if maxSleep == 0 {
		maxSleep = defaultMaxSleep
	}
	hasDeadline := !o.Deadline.IsZero()
	check := func() error {
		if o.Stop != nil && o.Stop() {
			return ErrStopped
		}
		if hasDeadline && !time.Now().Before(o.Deadline) {
			return ErrDeadline
		}
		return nil
	}
	for i := 0; i < spin; i++ {
		cpuRelax()
		if ready() {
			return nil
		}
		if o.Stop != nil && o.Stop() {
			return ErrStopped
		}
		if hasDeadline && i%deadlineEvery == deadlineEvery-1 && !time.Now().Before(o.Deadline) {
			return ErrDeadline
		}
	}
	for i := 0; i < yield; i++ {
		runtime.Gosched()
		if ready() {
			return nil
		}
		if err := check(); err != nil {
			return err
		}
	}
	sleep := time.Microsecond
	for {
		if maxSleep < 0 {
			runtime.Gosched()
		} else {
			d := min(sleep, maxSleep)
			if hasDeadline {
				d = min(d, max(time.Until(o.Deadline), 0))
			}
			time.Sleep(d)
			sleep *= 2
		}
		if ready() {
			return nil
		}
		if err := check(); err != nil {
			return err
		}
	}
}
