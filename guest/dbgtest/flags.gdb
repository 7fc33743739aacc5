# gdb single-steps the dbgtest guest's flag checks on the backup
# (debug-bochs.sh): over PUSHF, INT 0x80, INT3, UD2, SYSCALL and the
# guest's own TF; the guest must see no TF of hindsight's (it prints its
# count of bad checks, and the backup's output must equal the primary's).
target remote localhost:PORT
break flags_test
continue
delete
python
import gdb
frame = gdb.selected_frame()
block = gdb.block_for_pc(frame.pc())
arch = frame.architecture()
seen = {}
for insn in arch.disassemble(block.function.value().address.cast(gdb.lookup_type("long")), block.end - 1):
    m = insn["asm"].split()[0]
    if m in ("pushf", "int", "int3", "ud2", "syscall", "popf") and m not in seen:
        seen[m] = insn["addr"]
for m, a in sorted(seen.items(), key=lambda x: x[1]):
    gdb.execute("tbreak *%d" % a)
    gdb.execute("continue")
    for i in range(4 if m == "popf" else 2):
        gdb.execute("stepi")
        print("STEPPED %s: pc %#x" % (m, int(gdb.parse_and_eval("$pc"))))
print("STEPPED over %d kinds: %s" % (len(seen), " ".join(sorted(seen))))
end
monitor stats
continue
detach
