# The Linux guest's script: u-root's init runs it as `gosh /etc/test.sh`
# (its uinit). The markers are what `make linux-qemu` and the hypervisor's
# tests look for. hsdemo.n=N on the kernel command line sets hsdemo's -n
# (default 1000000: a few hundred milliseconds on real hardware; less suits
# a slow emulator).
echo "linux-guest: script start"
n=1000000
for word in $(cat /proc/cmdline); do
	case "$word" in
	hsdemo.n=*) n="${word#hsdemo.n=}" ;;
	esac
done
echo "linux-guest: kernel $(uname -r), $(cat /proc/cmdline)"
hsdemo -n "$n"
echo "linux-guest: hsdemo exit status $?"
echo "linux-guest: script done"
# The console's shell runs here, inside the uinit, rather than after it:
# init starts each command as a session leader on the console, and when the
# uinit's session ends Linux hangs the console up (disassociate_ctty), which
# loses the uinit's output still in init's pipe and kills init's next shell
# with SIGPIPE on its first prompt.
gosh
