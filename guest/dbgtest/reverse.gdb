# Reverse execution on the backup (debug-bochs.sh, scenario reverse): the
# primary triple-faulted after a path with timer ticks; the backup stands
# before it. Break in the tick handler (just after an interrupt was
# delivered), go back N instructions over the delivery, record N forward
# steps, then reverse-stepi N times: after each, every register must equal
# what it was that many steps earlier. Then reverse-continue must stop at
# the previous breakpoint hit, with that hit's registers.
python import time; t0 = time.time()
target remote localhost:PORT
python print("MEASURE attach: %.3f s" % (time.time() - t0))
monitor where
break *((char *)&stubs + 16 * 0x20)
continue
# The first continue may return the primary's failure notice instead.
python
if int(gdb.parse_and_eval("$pc")) != int(gdb.parse_and_eval("(long)((char *)&stubs + 16 * 0x20)")):
    gdb.execute("continue")
end
delete
python
import time
regs = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
        "r12", "r13", "r14", "r15", "rip", "eflags", "cs", "ss", "fs_base", "gs_base"]
def state():
    gdb.execute("maint flush register-cache")
    return tuple(int(gdb.parse_and_eval("$" + r)) for r in regs)
def where():
    return int(gdb.parse_and_eval("$pc"))
stub = int(gdb.parse_and_eval("(long)((char *)&stubs + 16 * 0x20)"))
at_handler = state()
print("REVERSE at the tick stub: rip %#x" % where())
N = 12
times = []
t0 = time.time()
gdb.execute("reverse-stepi %d" % N, to_string=True)
times.append((time.time() - t0) / N)
print("REVERSE back %d: rip %#x" % (N, where()))
forward = [state()]
for i in range(N):
    gdb.execute("stepi", to_string=True)
    forward.append(state())
if forward[N] != at_handler:
    print("REVERSE FAIL: %d steps forward from %d back do not come back to the handler" % (N, N))
crossed = [i for i in range(N) if forward[i][16] != stub and forward[i + 1][16] == stub]
print("REVERSE forward steps cross the interrupt delivery at step %s" % crossed)
bad = 0
worst = 0.0
for i in range(N):
    t = time.time()
    gdb.execute("reverse-stepi", to_string=True)
    dt = time.time() - t
    times.append(dt)
    worst = max(worst, dt)
    got, want = state(), forward[N - 1 - i]
    if got != want:
        bad += 1
        diff = ["%s %#x != %#x" % (r, g, w) for r, g, w in zip(regs, got, want) if g != w]
        print("REVERSE MISMATCH after %d reverse steps: %s" % (i + 1, ", ".join(diff)))
print("REVERSE %d reverse steps, %d mismatches" % (N, bad))
times.sort()
print("MEASURE reverse-stepi: median %.3f s, worst %.3f s (wall clock)" % (times[len(times) // 2], worst))
end
monitor stats
# reverse-continue: two hits of a breakpoint forward, then back to the first.
break compute_step
continue
python first = state()
continue
python second = state()
python t0 = time.time()
reverse-continue
python
dt = time.time() - t0
got = state()
print("REVERSE-CONTINUE %s (rip %#x, first hit rip %#x, second %#x)" % (
    "back at the first hit" if got == first else "MISMATCH", got[16], first[16], second[16]))
print("MEASURE reverse-continue: %.3f s" % dt)
end
delete
# gdb's own reverse commands, built on bs and bc: out of compute_step back
# to its call in kmain, then a line back there.
python t0 = time.time()
reverse-finish
python print("REVERSE-FINISH in %s (%.3f s)" % (gdb.selected_frame().name(), time.time() - t0))
python t0 = time.time()
reverse-next
python print("REVERSE-NEXT in %s (%.3f s)" % (gdb.selected_frame().name(), time.time() - t0))
reverse-stepi
reverse-continue
monitor stats
detach
