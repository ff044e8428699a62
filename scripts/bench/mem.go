package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Memory of a call: the peak RSS (VmHWM) of the shim and of every process
// it starts, summed. Each one's high-water mark is sampled from /proc every
// 200 µs while the call runs (a process that lives less than that is
// missed). The shim's own peak comes from wait4 when it started nothing
// (then exact); otherwise wait4 reports the largest of it and its children,
// so its last sample is used.

// descendants are the live processes below pid (via /proc/*/task/*/children).
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// statusKB reads a "Vm…:" field of /proc/pid/status in KiB (0 when gone).
func statusKB(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// callMemory runs c to its end and returns the summed peak RSS in KiB of it
// and its descendants, and how many descendants were seen.
func callMemory(c *exec.Cmd) (kb, procs int) {
	must(c.Start())
	done := make(chan struct{})
	peaks := map[int]int{}
	self := 0
	go func() {
		defer close(done)
		for {
			if v := statusKB(c.Process.Pid, "VmHWM"); v > self {
				self = v
			}
			for _, p := range descendants(c.Process.Pid) {
				if v := statusKB(p, "VmHWM"); v > peaks[p] {
					peaks[p] = v
				}
			}
			if c.ProcessState != nil {
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	c.Wait()
	<-done
	total := int(c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	if len(peaks) > 0 {
		total = self
	}
	for _, v := range peaks {
		total += v
	}
	return total, len(peaks)
}

// memStats is the median, min and max of n calls' memory.
func memStats(n int, mk func() *exec.Cmd) string {
	var kbs []int
	procs := 0
	for i := 0; i < n; i++ {
		kb, p := callMemory(mk())
		kbs = append(kbs, kb)
		procs = max(procs, p)
	}
	sortInts(kbs)
	return fmt.Sprintf("%5.1f MiB (%5.1f–%5.1f), %d process(es) started", mib(kbs[len(kbs)/2]), mib(kbs[0]), mib(kbs[len(kbs)-1]), procs)
}

func mib(kb int) float64 { return float64(kb) / 1024 }

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// scanMemory starts n calls at once (a library scan's burst) and samples the
// summed RSS and PSS (shared pages, such as the binary's, divided among
// the processes sharing them) of every process below this one until all
// ended: the peaks of those sums in KiB, and the wall time.
func scanMemory(n int, mk func() *exec.Cmd) (peakKB, peakPssKB int, took time.Duration) {
	t0 := time.Now()
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		c := mk()
		must(c.Start())
		cmds = append(cmds, c)
	}
	done := make(chan struct{})
	go func() {
		for _, c := range cmds {
			c.Wait()
		}
		close(done)
	}()
	self := os.Getpid()
	for {
		sum, pss := 0, 0
		for _, p := range descendants(self) {
			sum += statusKB(p, "VmRSS")
			pss += rollupKB(p, "Pss")
		}
		peakKB, peakPssKB = max(peakKB, sum), max(peakPssKB, pss)
		select {
		case <-done:
			return peakKB, peakPssKB, time.Since(t0)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// rollupKB reads a field of /proc/pid/smaps_rollup in KiB (0 when gone).
func rollupKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
