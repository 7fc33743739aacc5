package ringbuf

// cpuRelax executes one PAUSE: tells the core it is in a spin-wait loop
// (saves power, frees the sibling hyperthread, avoids the memory-order
// mis-speculation penalty when the awaited line changes).
func cpuRelax()
