#!/usr/bin/env python3
"""capmangle.py: spoil hindsight capture files (hv/capture/doc.go) on
purpose, for debug-bochs.sh's capture scenario.

  capmangle.py check IN                 the header's CRC-32C, recomputed,
                                        must equal the stored one; prints
                                        the header's fields and sections
  capmangle.py truncate IN OUT          OUT: the first half of IN
  capmangle.py flip IN OUT mem|log      OUT: IN with one bit flipped in the
                                        middle of the data of the middle
                                        chunk of the MEMORY or LOG payload
                                        (both deflated, in chunks)
  capmangle.py cpuid IN OUT LEAF SUBLEAF REG BIT
                                        OUT: IN with bit BIT of register
                                        REG (eax, ebx, ecx, edx) of the
                                        CPUID entry LEAF/SUBLEAF flipped
                                        and the header CRC-32C recomputed

  capmangle.py --help                   this text, after a self-check (the
                                        CRC-32C check value)

Every command prints one line saying what it did; errors go to stderr
with exit status 1. It reads format version 2 (hv/capture.Version).
"""
import struct
import sys

HEADER_SIZE = 1024
VERSION = 2
FLAG_CHUNKED = 1
CRC_OFF = 1020
CPUID_OFF, CPUID_COUNT_OFF, CPUID_ENTRY = 456, 49, 24
REGS = {"eax": 2, "ebx": 3, "ecx": 4, "edx": 5}


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    """CRC-32C (Castagnoli, reflected, init and final XOR 0xffffffff)."""
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def die(msg):
    print("capmangle.py: " + msg, file=sys.stderr)
    sys.exit(1)


def header_crc(buf):
    stored = struct.unpack_from("<I", buf, CRC_OFF)[0]
    return stored, crc32c(buf[:CRC_OFF])


def sections(buf):
    """Offsets of the sections: [(tag, header offset, payload offset,
    payload end, chunks)], parsed as doc.go lays them out; chunks, for the
    chunked sections (MEMORY, LOG), is [(data offset, length)]."""
    version = struct.unpack_from("<H", buf, 8)[0]
    if version != VERSION:
        die("format version %d, capmangle.py reads version %d" % (version, VERSION))
    state_len = struct.unpack_from("<Q", buf, 24)[0]
    out = []
    off = HEADER_SIZE
    for want in (b"STAT", b"MEM ", b"LOG ", b"END "):
        if off + 16 > len(buf):
            die("the %r section header at %d is past the end (%d bytes)" % (want, off, len(buf)))
        tag, flags, plen = struct.unpack_from("<4sIQ", buf, off)
        if tag != want:
            die("section at %d is %r, want %r" % (off, tag, want))
        p = off + 16
        if want in (b"MEM ", b"LOG "):
            if flags != FLAG_CHUNKED:
                die("section %r at %d has flags 0x%x, want 0x%x (chunked)" % (tag, off, flags, FLAG_CHUNKED))
            chunks = []
            q = p
            while True:
                if q + 8 > len(buf):
                    die("section %r: chunk header at %d is past the end" % (tag, q))
                n = struct.unpack_from("<I", buf, q)[0]
                if n == 0:
                    q += 8
                    break
                chunks.append((q + 8, n))
                q += 8 + n
            end = q
            out.append((tag, off, p, end, chunks))
        else:
            n = {b"STAT": state_len, b"END ": 16}[want]
            end = p + n
            out.append((tag, off, p, end, None))
        off = end + 16
    if off != len(buf):
        die("the sections end at %d, the file is %d bytes" % (off, len(buf)))
    return out


def read(path):
    with open(path, "rb") as f:
        return bytearray(f.read())


def write(path, buf):
    with open(path, "wb") as f:
        f.write(buf)


def main(argv):
    if argv[:1] in (["--help"], ["-h"], ["help"]):
        print(__doc__.strip())
        return
    if len(argv) < 2:
        die("usage: see capmangle.py --help")
    cmd, src = argv[0], argv[1]
    buf = read(src)
    if len(buf) < HEADER_SIZE:
        die("%s: %d bytes, shorter than a header" % (src, len(buf)))
    if cmd == "check":
        stored, got = header_crc(buf)
        if stored != got:
            die("%s: header CRC-32C stored 0x%08x, computed 0x%08x" % (src, stored, got))
        ram = struct.unpack_from("<Q", buf, 16)[0]
        ncpuid = buf[CPUID_COUNT_OFF]
        secs = " ".join("%s@%d+%d" % (s[0].decode().strip(), s[1], s[3] - s[2]) for s in sections(buf))
        print("capmangle.py: %s: %d bytes, header CRC-32C 0x%08x recomputed equal, guest RAM %d MiB, %d CPUID entries, sections %s"
              % (src, len(buf), got, ram >> 20, ncpuid, secs))
        return
    if len(argv) < 3:
        die("%s: no output file" % cmd)
    dst = argv[2]
    if cmd == "truncate":
        write(dst, buf[: len(buf) // 2])
        print("capmangle.py: %s: the first %d of %d bytes" % (dst, len(buf) // 2, len(buf)))
    elif cmd == "flip":
        which = argv[3] if len(argv) > 3 else "log"
        secs = {s[0]: s for s in sections(buf)}
        tag = {"mem": b"MEM ", "log": b"LOG "}.get(which)
        if tag is None:
            die("flip: mem or log, not %r" % which)
        chunks = secs[tag][4]
        if not chunks:
            die("no %s chunk" % {"mem": "MEMORY", "log": "LOG"}[which])
        k = len(chunks) // 2
        start, n = chunks[k]
        off = start + n // 2
        buf[off] ^= 0x10
        write(dst, buf)
        print("capmangle.py: %s: bit 4 of byte %d (in %s chunk %d of %d, at %d) flipped"
              % (dst, off, {"mem": "MEMORY", "log": "LOG"}[which], k, len(chunks), start - 8))
    elif cmd == "cpuid":
        leaf, sub, reg, bit = int(argv[3], 0), int(argv[4], 0), argv[5].lower(), int(argv[6])
        stored, got = header_crc(buf)
        if stored != got:
            die("%s: header CRC-32C stored 0x%08x, computed 0x%08x" % (src, stored, got))
        for i in range(buf[CPUID_COUNT_OFF]):
            e = CPUID_OFF + i * CPUID_ENTRY
            vals = list(struct.unpack_from("<6I", buf, e))
            if vals[0] == leaf and vals[1] == sub:
                old = vals[REGS[reg]]
                vals[REGS[reg]] ^= 1 << bit
                struct.pack_into("<6I", buf, e, *vals)
                struct.pack_into("<I", buf, CRC_OFF, crc32c(buf[:CRC_OFF]))
                write(dst, buf)
                print("capmangle.py: %s: CPUID leaf 0x%x subleaf %d %s 0x%08x -> 0x%08x, header CRC-32C 0x%08x -> 0x%08x"
                      % (dst, leaf, sub, reg.upper(), old, vals[REGS[reg]], stored, crc32c(buf[:CRC_OFF])))
                return
        die("%s: no CPUID entry for leaf 0x%x subleaf %d" % (src, leaf, sub))
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
