// Command stall measures how long the machine takes its CPUs away from a
// program that never waits: one thread reads the monotonic clock in a
// tight loop for -d and counts the gaps between two readings. A gap over
// 100µs is time the CPU spent elsewhere (on the benchmark's 2-vCPU VM, some
// are milliseconds), and every request in flight on that CPU waits as long. bench/serve/run.sh
// runs it on each CPU, alone and on both at once, so that the latency
// figures of a run come with the floor the machine put under them.
//
//	taskset -c 0 stall -d 5s -label cpu0
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	d := flag.Duration("d", 5*time.Second, "how long to measure")
	label := flag.String("label", "", "printed first on the result line")
	flag.Parse()
	if *d <= 0 {
		fmt.Fprintln(os.Stderr, "stall: -d must be positive")
		os.Exit(2)
	}
	// Go's runtime interrupts a goroutine that runs for 10 ms with a
	// signal; on some virtual machines a signal costs over 100µs, which
	// would be counted as the machine's. Without it the loop is preempted
	// at a function call, at no cost worth counting.
	if debug := os.Getenv("GODEBUG"); !strings.Contains(debug, "asyncpreemptoff=1") {
		self, err := os.Executable()
		if err == nil {
			err = os.Setenv("GODEBUG", strings.TrimPrefix(debug+",asyncpreemptoff=1", ","))
		}
		if err == nil {
			err = syscall.Exec(self, os.Args, os.Environ())
		}
		fmt.Fprintln(os.Stderr, "stall: cannot restart with GODEBUG=asyncpreemptoff=1:", err)
		os.Exit(1)
	}
	runtime.LockOSThread()
	r := measure(*d)
	fmt.Printf("%s stalls in %v: %d over 100µs, %d over 1ms, %d over 2ms; %.2f%% of the time in stalls over 100µs; longest %v\n",
		*label, *d, r.over100us, r.over1ms, r.over2ms, 100*float64(r.lost)/float64(r.elapsed), r.longest.Round(10*time.Microsecond))
}

type result struct {
	elapsed, lost, longest      time.Duration
	over100us, over1ms, over2ms int
}

// measure reads the clock until d has passed. A gap is the time between
// two consecutive readings; the loop itself takes well under a microsecond.
func measure(d time.Duration) result {
	var r result
	start := time.Now()
	last := start
	for {
		now := time.Now()
		gap := now.Sub(last)
		last = now
		if gap > 100*time.Microsecond {
			r.over100us++
			r.lost += gap
			if gap > time.Millisecond {
				r.over1ms++
			}
			if gap > 2*time.Millisecond {
				r.over2ms++
			}
			r.longest = max(r.longest, gap)
		}
		if r.elapsed = now.Sub(start); r.elapsed >= d {
			return r
		}
	}
}
