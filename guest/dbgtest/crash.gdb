# gdb against the backup of a primary that triple-faulted (debug-bochs.sh):
# attach, look, break on a function of the guest's symbols, watch a
# variable, step, run to just before the failure, walk into it.
python import time; t0 = time.time()
target remote localhost:PORT
python print("MEASURE attach: %.3f s from target remote to the prompt" % (time.time() - t0))
info registers rip rsp
monitor where
break compute_step
continue
bt
python t0 = time.time()
stepi 20
python print("MEASURE stepi: %.3f s each (20 steps, wall clock)" % ((time.time() - t0) / 20))
delete
watch ticks
continue
delete
monitor stats
monitor log 4
monitor disas
# Replay speed under gdb: the same stretch of landmarks without, then with
# a breakpoint set (one that is never hit).
python t0 = time.time()
monitor goto +60
python print("MEASURE replay: %.3f s for 60 landmarks without breakpoints" % (time.time() - t0))
break flags_test
python t0 = time.time()
monitor goto +60
python print("MEASURE replay: %.3f s for 60 landmarks with a breakpoint set" % (time.time() - t0))
delete
monitor stats
python t0 = time.time()
monitor failure
python print("MEASURE failure: %.3f s to run to the failure (no breakpoints)" % (time.time() - t0))
maint flush register-cache
info registers rip rsp eflags
x/i $pc
bt
monitor stats
continue
monitor where
detach
