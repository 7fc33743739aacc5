// Command guestsum prints the checksum the test guest's mode 0 must print
// (testguest.Checksum0 over the default iterations), for the emulator tests.
package main

import (
	"fmt"

	"hindsight/guest/testguest"
)

func main() {
	fmt.Printf("0x%016x\n", testguest.Checksum0(testguest.Mode0DefaultIterations))
}
