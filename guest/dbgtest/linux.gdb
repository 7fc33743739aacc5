# gdb with the kernel's symbols against the backup of a Linux primary that
# panicked (debug-bochs.sh): the backup stopped up to the lag before the
# panic; gdb breaks on panic, continues into it and shows the path there.
target remote localhost:PORT
monitor where
break panic
continue
bt 8
info registers rip rsp
x/s $rdi
monitor failure
maint flush register-cache
x/i $pc
detach
