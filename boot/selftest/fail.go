package selftest

import "fmt"

// Fail triggers one of the failures the ring-0 layer must report: an
// unrecovered Go panic ("panic"), or an illegal instruction ("trap"). Either
// must print a goroutine trace, stop every CPU and end the run with a
// failure status; the emulator tests check the markers.
func Fail(mode string) {
	done := make(chan struct{})
	go func() {
		switch mode {
		case "panic":
			panic("selftest: deliberate panic")
		case "trap":
			ud2()
		default:
			fmt.Println("selftest: unknown failure mode", mode)
		}
		close(done)
	}()
	<-done
}

// ud2 executes UD2 (#UD, invalid opcode).
func ud2()
