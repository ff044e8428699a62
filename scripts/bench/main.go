// Command bench measures rffmpeg's cost per call against the loopback
// transcode host that scripts/bench.sh sets up, and prints the figures:
// shim vs bare ssh over the same warm ControlMaster, local fallback vs direct
// exec, per-call time with 1, 4 and 8 busy hosts, and the stall a dead or a
// hung host causes (first call, then later calls).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/testrig"
)

var (
	dir  = flag.String("dir", "/tmp/rffmpeg-bench", "installation made by bench.sh")
	port = flag.Int("port", 2023, "sshd port of the loopback hosts")
	runs = flag.Int("n", 40, "calls per figure")
	user = flag.String("user", "root", "remote user")
)

func main() {
	flag.Parse()
	base, err := os.ReadFile(filepath.Join(*dir, "rffmpeg.yml"))
	must(err)
	keys := testrig.KeysIn(filepath.Join(*dir, "rig")) // made by scripts/lib.sh

	fmt.Printf("rffmpeg benchmark: %d calls per figure, median (p90), on %s\n\n", *runs, hostInfo())
	benchRemote(base, keys)
	benchFallback(base)
	benchBusy(base)
	benchBadHosts(base)
	benchFaults(base, keys)
}

// benchRemote: shim vs bare ssh over the same warm master.
func benchRemote(base []byte, keys testrig.Keys) {
	e := install("one", base)
	e.cli("add", testrig.HostA)
	e.call("ffmpeg", "-version") // check + master
	ssh := remote.SSH{Path: "/usr/bin/ssh", User: *user, Host: testrig.HostA, ConnectTimeout: 1, Persist: 300,
		PersistDir: e.dir, ControlDir: filepath.Join(e.dir, fmt.Sprintf("rffmpeg-%d", os.Geteuid())), HostKeys: remote.HostKeysTOFU, KnownHosts: filepath.Join(e.dir, "state", "known_hosts"),
		Extra: []string{"-i", keys.Client, "-p", fmt.Sprint(*port)}}
	bareArgv := ssh.Argv(remote.Join([]string{"/usr/bin/ffmpeg", "-version"}), remote.Quiet(true))
	bare, shim, added := paired(func() { run(bareArgv...) }, func() { e.call("ffmpeg", "-version") })
	fmt.Printf("remote  bare ssh ffmpeg -version (warm master)  %s\n", bare)
	fmt.Printf("remote  rffmpeg ffmpeg -version (same master)   %s   added %+.1f ms (paired median), ratio %.2fx\n",
		shim, ms(added), float64(shim.med)/float64(bare.med))
	trueArgv := ssh.Argv("/bin/true", remote.Quiet(true))
	bareT, shimT, addedT := paired(func() { run(trueArgv...) }, func() { e.call("rffmpeg", "run", "/bin/true") })
	fmt.Printf("remote  bare ssh /bin/true (warm master)        %s\n", bareT)
	fmt.Printf("remote  rffmpeg run /bin/true (same master)     %s   added %+.1f ms (paired median), ratio %.2fx\n",
		shimT, ms(addedT), float64(shimT.med)/float64(bareT.med))
}

// benchFallback: fallback vs direct exec.
func benchFallback(base []byte) {
	f := install("fallback", base)
	direct, fb, addedF := paired(func() { run("/usr/bin/ffmpeg", "-version") }, func() { f.call("ffmpeg", "-version") })
	fmt.Printf("local   /usr/bin/ffmpeg -version                %s\n", direct)
	fmt.Printf("local   rffmpeg fallback ffmpeg -version        %s   added %+.1f ms (paired median)\n", fb, ms(addedF))
}

// benchBusy: per-call time with 1, 4, 8 busy hosts.
func benchBusy(base []byte) {
	var first time.Duration
	for _, k := range []int{1, 4, 8} {
		b := install(fmt.Sprintf("busy%d", k), base)
		for i := 1; i <= k; i++ {
			b.cli("add", "-n", fmt.Sprintf("h%d", i), []string{testrig.HostA, testrig.HostB}[i%2])
		}
		var holders []*exec.Cmd
		for i := 0; i < k; i++ { // one long job per host
			c := b.cmd("rffmpeg", "run", "sleep", "600")
			must(c.Start())
			holders = append(holders, c)
			time.Sleep(300 * time.Millisecond)
		}
		b.call("ffmpeg", "-version")
		s := measure(func() { b.call("ffmpeg", "-version") })
		for _, h := range holders {
			h.Process.Signal(syscall.SIGTERM)
			h.Wait()
		}
		note := ""
		if k == 1 {
			first = s.med
		} else {
			note = fmt.Sprintf("   %.2fx of 1 host", float64(s.med)/float64(first))
		}
		fmt.Printf("busy    %d busy host(s): ffmpeg -version          %s%s\n", k, s, note)
	}
}

// benchBadHosts: dead and hung hosts: the first call pays, later ones do not.
func benchBadHosts(base []byte) {
	hung, err := testrig.ListenHung(testrig.HungAddr, *port)
	must(err)
	defer hung.Close()
	for _, bad := range []struct{ name, addr string }{{"dead (refused)", testrig.DeadAddr}, {"hung (silent)", testrig.HungAddr}} {
		h := install("bad"+bad.addr, base)
		h.cli("add", "-n", "good", testrig.HostA)
		h.call("ffmpeg", "-version") // warm the good host
		h.cli("add", "-n", "bad", bad.addr)
		h.cli("weight", "good", "1")
		// Make the bad host the first candidate: good gets a long job.
		hold := h.cmd("rffmpeg", "run", "sleep", "600")
		must(hold.Start())
		time.Sleep(300 * time.Millisecond)
		t0 := time.Now()
		h.call("ffmpeg", "-version")
		firstCall := time.Since(t0)
		later := measure(func() { h.call("ffmpeg", "-version") })
		hold.Process.Signal(syscall.SIGTERM)
		hold.Wait()
		fmt.Printf("stall   %-15s first call %7.1f ms (stall %+.0f ms over later calls), later calls %s\n",
			bad.name, ms(firstCall), ms(firstCall-later.med), later)
	}
}

// benchFaults: a host that freezes or is cut off with its master up (issue:
// calls held hostage), in its own network namespace with its own sshd.
func benchFaults(base []byte, keys testrig.Keys) {
	for _, fault := range []string{"frozen", "cut off"} {
		ns, err := testrig.NewNSHost(*dir, *port, keys, *user)
		if err != nil {
			fmt.Printf("fault   %-15s skipped: %v\n", fault, err)
			continue
		}
		breakIt := func() {
			if fault == "frozen" {
				ns.Freeze()
			} else {
				ns.Link(false)
			}
		}
		heal := func() {
			if fault == "frozen" {
				ns.Thaw()
			} else {
				ns.Link(true)
			}
		}
		h := install("fault-"+strings.ReplaceAll(fault, " ", ""), base)
		h.cli("add", "-n", "nshost", ns.Addr)
		h.call("ffmpeg", "-version") // warm: master up
		job := h.cmd("ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc=rate=5:duration=120", "-f", "null", "-")
		job.StdinPipe()
		must(job.Start())
		time.Sleep(time.Second)
		t0 := time.Now()
		breakIt()
		// The job, alone: only the keepalives can end it.
		job.Wait()
		jobEnd := time.Since(t0)
		// Heal, forget the mark, warm a fresh master, fault again and call at
		// once: the call meets a master whose host no longer answers.
		heal()
		h.cli("clear", "--bad")
		h.call("ffmpeg", "-version")
		breakIt()
		t1 := time.Now()
		h.call("ffmpeg", "-version")
		newCall := time.Since(t1)
		t2 := time.Now()
		h.call("ffmpeg", "-version")
		next := time.Since(t2)
		fmt.Printf("fault   %-15s running job ended %4.1f s after the fault (exit %d); a new call %5.0f ms, the next %4.0f ms\n",
			fault, jobEnd.Seconds(), job.ProcessState.ExitCode(), ms(newCall), ms(next))
		ns.Destroy()
	}
}

// paired times a and b alternately (so drift hits both alike) and returns
// both distributions and the median of the per-pair differences b-a.
func paired(a, b func()) (stats, stats, time.Duration) {
	a()
	b()
	var as, bs, ds []time.Duration
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		a()
		t1 := time.Now()
		b()
		t2 := time.Now()
		as, bs, ds = append(as, t1.Sub(t0)), append(bs, t2.Sub(t1)), append(ds, t2.Sub(t1)-t1.Sub(t0))
	}
	return summarize(as), summarize(bs), summarize(ds).med
}

func summarize(ds []time.Duration) stats {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return stats{ds[len(ds)/2], ds[len(ds)*9/10]}
}

type stats struct{ med, p90 time.Duration }

func (s stats) String() string { return fmt.Sprintf("%7.1f ms (%7.1f)", ms(s.med), ms(s.p90)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func measure(fn func()) stats {
	fn() // warm
	var ds []time.Duration
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		fn()
		ds = append(ds, time.Since(t0))
	}
	return summarize(ds)
}

type inst struct{ dir, config string }

// install makes a separate installation (config, state, persist dir) sharing
// the loopback hosts.
func install(name string, base []byte) inst {
	d := filepath.Join(*dir, "bench-"+name)
	os.RemoveAll(d)
	must(os.MkdirAll(filepath.Join(d, "state"), 0o755))
	cfg := strings.ReplaceAll(string(base), "state: "+*dir+"/state", "state: "+d+"/state")
	cfg = strings.ReplaceAll(cfg, "persist: "+*dir+"\n", "persist: "+d+"\n")
	cfg = strings.ReplaceAll(cfg, "logfile: "+*dir+"/rffmpeg.log", "logfile: "+d+"/rffmpeg.log")
	cfg = strings.ReplaceAll(cfg, "debug: true", "debug: false")
	p := filepath.Join(d, "rffmpeg.yml")
	must(os.WriteFile(p, []byte(cfg), 0o644))
	i := inst{d, p}
	i.cli("init", "--no-root", "-y")
	return i
}

func (i inst) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(*dir, "bin", name), args...)
	c.Env = append(os.Environ(), "RFFMPEG_CONFIG="+i.config)
	return c
}

func (i inst) cli(args ...string) { must(i.cmd("rffmpeg", args...).Run()) }

func (i inst) call(name string, args ...string) { must(i.cmd(name, args...).Run()) }

func run(argv ...string) {
	c := exec.Command(argv[0], argv[1:]...)
	must(c.Run())
}

func hostInfo() string {
	out, _ := exec.Command("sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").Output()
	return strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n", " cores,")), " ")
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
