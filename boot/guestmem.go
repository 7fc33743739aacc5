package boot

// Guest RAM: two equal regions outside the runtime's memory, the primary's
// at A and the backup's at A+OFFSET (seed 003's offset scheme), sized by the
// "guestmem=SIZE" option (e.g. guestmem=64M). Both are 2 MiB aligned so EPT
// can map them with large pages.

var guestRAM struct {
	base   uint64 // A
	offset uint64 // the backup's region starts at base+offset
	size   uint64 // bytes per region
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

// parseSize reads "64M", "1G", "4096K" or plain bytes; ok is false on
// anything else.
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
	base, ok := physReserveTop(2*size, hugeSize)
	if !ok {
		puts("boot: not enough RAM for guestmem: need 2 x ")
		putDec(size >> 20)
		puts(" MiB contiguous, largest free range is ")
		putDec(largestFree() >> 20)
		puts(" MiB; short by ")
		putDec((2*size - largestFree()) >> 20)
		puts(" MiB. Give the machine more memory or lower guestmem.\n")
		return false
	}
	guestRAM.base, guestRAM.offset, guestRAM.size = base, size, size
	puts("boot: guest RAM: primary at ")
	putHex(base)
	puts(", backup at ")
	putHex(base + size)
	puts(", ")
	putDec(size >> 20)
	puts(" MiB each\n")
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
