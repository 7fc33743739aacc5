//go:build ringbench

package main

import "hindsight/tools/ringbench/inimage"

func init() { ringBench = inimage.Run }
