package boot

// Guest memory: one region outside the runtime's memory, sized by the
// "guestmem=SIZE" option (e.g. guestmem=64M), 2 MiB aligned so EPT can map
// it with large pages. The hypervisor splits it between its replicas (a
// pair: the primary's RAM at A, the backup's at A+OFFSET, seed 003's offset
// scheme).

var guestRAM struct {
	base uint64
	size uint64
}

// cmdlineValue returns the text after "key=" in the command line.
func cmdlineValue(key string) []byte {
	w := cmdlineWord(func(w []byte) bool {
		return len(w) > len(key) && w[len(key)] == '=' && string(w[:len(key)]) == key
	})
	if w == nil {
		return nil
	}
	return w[len(key)+1:]
}

// ParseSize reads a size as the command line gives it: "64M", "1G",
// "4096K" or plain bytes; ok is false on anything else.
func ParseSize(s string) (uint64, bool) { return parseSize([]byte(s)) }

// parseSize is ParseSize on the raw command line (before the heap).
func parseSize(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + uint64(b[i]-'0')
	}
	if i == 0 {
		return 0, false
	}
	if i == len(b) {
		return v, true
	}
	if i != len(b)-1 {
		return 0, false
	}
	switch b[i] {
	case 'K', 'k':
		return v << 10, true
	case 'M', 'm':
		return v << 20, true
	case 'G', 'g':
		return v << 30, true
	}
	return 0, false
}

func reserveGuestRAM() bool {
	opt := cmdlineValue("guestmem")
	if opt == nil {
		return true
	}
	size, ok := parseSize(opt)
	if !ok || size == 0 {
		puts("boot: bad guestmem=")
		putBytes(opt)
		puts(": want a size such as 64M or 1G\n")
		return false
	}
	size = (size + hugeSize - 1) &^ (hugeSize - 1)
	base, ok := physReserveTop(size, hugeSize)
	if !ok {
		puts("boot: not enough RAM for guestmem: need ")
		putDec(size >> 20)
		puts(" MiB contiguous, largest free range is ")
		putDec(largestFree() >> 20)
		puts(" MiB; short by ")
		putDec((size - largestFree()) >> 20)
		puts(" MiB. Give the machine more memory or lower guestmem.\n")
		return false
	}
	guestRAM.base, guestRAM.size = base, size
	puts("boot: guest memory: ")
	putDec(size >> 20)
	puts(" MiB at ")
	putHex(base)
	puts("\n")
	return true
}

func largestFree() uint64 {
	var m uint64
	for i := 0; i < phys.nfree; i++ {
		if n := phys.free[i].end - phys.free[i].start; n > m {
			m = n
		}
	}
	return m
}
