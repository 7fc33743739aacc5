package ept

import (
	"encoding/binary"
	"testing"
)

// refModel is the reference: 4 KiB guest page number -> host address | rights.
type refModel map[uint64]uint64

func (m refModel) mapRange(gpa, hpa, size uint64, p Perm) {
	for off := uint64(0); off < size; off += Size4K {
		m[(gpa+off)/Size4K] = hpa + off | uint64(p)
	}
}

func (m refModel) unmap(gpa, size uint64) {
	for off := uint64(0); off < size; off += Size4K {
		delete(m, (gpa+off)/Size4K)
	}
}

func (m refModel) protect(gpa, size uint64, p Perm) {
	for off := uint64(0); off < size; off += Size4K {
		if v, ok := m[(gpa+off)/Size4K]; ok {
			m[(gpa+off)/Size4K] = v&AddrMask | uint64(p)
		}
	}
}

// decodeOp turns 8 fuzz bytes into one operation over a 4 GiB guest space,
// biased towards 2 MiB and 1 GiB alignment so large pages, splits and
// merges all happen.
func decodeOp(b []byte) (kind int, gpa, hpa, size uint64, p Perm) {
	kind = int(b[0] % 3)
	x := binary.LittleEndian.Uint16(b[1:])
	switch b[2] >> 6 {
	case 0, 1: // 4 KiB granular, near a few 2 MiB boundaries
		gpa = uint64(x%2048) * Size4K
		gpa += uint64(b[3]%4) * Size1G
	case 2: // 2 MiB granular
		gpa = uint64(x%2048) * Size2M
	case 3: // 1 GiB granular
		gpa = uint64(x%4) * Size1G
	}
	switch b[4] >> 5 {
	case 0, 1, 2:
		size = uint64(b[5]%64+1) * Size4K
	case 3, 4, 5:
		size = uint64(b[5]%4+1) * Size2M
	case 6:
		size = Size2M + uint64(b[5]%8+1)*Size4K
	case 7:
		size = Size1G
	}
	if gpa+size > 4*Size1G {
		size = 4*Size1G - gpa
	}
	// The host address: the GPA plus an offset that keeps or breaks
	// large-page alignment.
	switch b[6] % 4 {
	case 0:
		hpa = gpa + Size1G
	case 1:
		hpa = gpa + uint64(b[7]%8)*Size2M
	case 2:
		hpa = gpa + uint64(b[7]+1)*Size4K
	case 3:
		hpa = gpa + testOffset
	}
	p = [...]Perm{RWX, RW, R, RX, R | UX, RWX | UX, X, X}[b[7]%8]
	return
}

func FuzzMapUnmap(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1,
		0, 0x10, 0x80, 0, 0x60, 1, 1, 0, // map 2 MiB granular
		1, 0x20, 0x01, 0, 0, 0, 3, 2, 0, // unmap a 4K piece inside
		2, 0x20, 0x01, 0, 0, 3, 0, 2, 0, // protect
	})
	f.Add([]byte{3,
		0, 1, 0xC0, 0, 0xE0, 0, 0, 0, // map 1 GiB at 1 GiB
		1, 0, 0x01, 0x41, 1, 0x70, 2, 0, 0, // unmap 4K pieces at 1 GiB + x
		0, 0, 0x80, 0, 0xC0, 9, 2, 5, 0, // remap 2M+ misaligned
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		caps := Caps{Pages2M: data[0]&1 != 0, Pages1G: data[0]&2 != 0, ExecuteOnly: data[0]&4 != 0}
		data = data[1:]
		a := NewArena(0x100_0000_0000, 1<<16)
		tb, err := New(a, caps)
		if err != nil {
			t.Fatal(err)
		}
		ref := refModel{}
		for n := 0; len(data) >= 8 && n < 48; n, data = n+1, data[8:] {
			kind, gpa, hpa, size, p := decodeOp(data)
			permOK := tb.checkPerm(p) == nil
			switch kind {
			case 0:
				err = tb.Map(gpa, hpa, size, p, WB)
				if permOK {
					ref.mapRange(gpa, hpa, size, p)
				}
			case 1:
				err = tb.Unmap(gpa, size)
				ref.unmap(gpa, size)
			case 2:
				err = tb.Protect(gpa, size, p)
				if permOK {
					ref.protect(gpa, size, p)
				}
			}
			if (err == nil) != (permOK || kind == 1) {
				t.Fatalf("op %d kind %d gpa %#x hpa %#x size %#x perm %v: err %v", n, kind, gpa, hpa, size, p, err)
			}
		}
		// Every reference page translates exactly, and nothing else is
		// mapped (equal counts).
		for pg, v := range ref {
			hpa, p, _, ok := tb.Translate(pg*Size4K + 0x18)
			if !ok || hpa != v&AddrMask+0x18 || p != Perm(v&PermMask) {
				t.Fatalf("page %#x: got %#x %v %v, want %#x %v", pg*Size4K, hpa, p, ok, v&AddrMask, Perm(v&PermMask))
			}
		}
		s := tb.Stats()
		if s.Mapped != uint64(len(ref))*Size4K {
			t.Fatalf("mapped %#x bytes, reference %#x", s.Mapped, uint64(len(ref))*Size4K)
		}
		var runs uint64
		tb.Walk(func(r Run) bool { runs += r.Size; return true })
		if runs != s.Mapped {
			t.Fatalf("runs cover %#x, stats %#x", runs, s.Mapped)
		}
		// Page accounting: no leak, no empty table kept, large pages
		// only where allowed.
		total := s.Tables[1] + s.Tables[2] + s.Tables[3] + s.Tables[4]
		if total != tb.TablePages() || a.InUse() != total {
			t.Fatalf("tables: walked %d, counted %d, arena %d", total, tb.TablePages(), a.InUse())
		}
		if (!caps.Pages2M && s.Leaves[2] != 0) || (!caps.Pages1G && s.Leaves[3] != 0) {
			t.Fatalf("large pages without the capability: %v", s.Leaves)
		}
		checkNoEmptyTables(t, tb, tb.root, levelPML4)
	})
}

func checkNoEmptyTables(t *testing.T, tb *Tables, table uint64, level int) {
	t.Helper()
	for _, e := range tb.alloc.Page(table) {
		if present(e) && !isLeaf(e, level) {
			if tb.empty(e & AddrMask) {
				t.Fatalf("empty level-%d table %#x kept", level-1, e&AddrMask)
			}
			checkNoEmptyTables(t, tb, e&AddrMask, level-1)
		}
	}
}
