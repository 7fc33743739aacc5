# gdb against a backup that replayed to just before its primary's failure
# (onfail=replay, debug-bochs.sh): a NULL call faulted, the page-fault
# handler wrote exit status 14; the backup waits at that OUT.
target remote localhost:PORT
x/i $pc
info registers rax rdx
bt
monitor where
detach
