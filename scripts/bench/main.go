// Command bench measures rffmpeg's cost per call against the loopback
// transcode host that scripts/bench.sh sets up, and prints the figures:
// shim vs bare ssh over the same warm ControlMaster, local fallback vs direct
// exec, the memory of a call and of a 200-call scan, per-call time with 1, 4 and 8 busy hosts, and the stall a dead or a
// hung host causes (first call, then later calls), and the load average
// before and after.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/config"
	"github.com/rffmpeg/rffmpeg/internal/remote"
	"github.com/rffmpeg/rffmpeg/internal/setup"
	"github.com/rffmpeg/rffmpeg/internal/shim"
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

	fmt.Printf("rffmpeg benchmark: %d calls per figure, median (min–max), on %s\n", *runs, hostInfo())
	fmt.Printf("memory: peak RSS of the call and every process it starts, summed (median (min–max) of calls)\n")
	fmt.Printf("load average at start: %s\n\n", loadAvg())
	e, bare, barTrue := benchRemote(base)
	benchRemoteHelper(e, bare, barTrue)
	f := benchFallback(base)
	benchFallbackHelper(f)
	benchBusy(base)
	benchBadHosts(base)
	benchFaults(base, keys)
	fmt.Printf("\nload average at end: %s\n", loadAvg())
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures: how busy the
// machine was (other work makes every figure slower and noisier).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// benchRemote: shim vs bare ssh over the same warm master, with the mux
// path (default) and without it (RFFMPEG_SSH_MUX=0: an ssh client per
// call), and the memory of each.
func benchRemote(base []byte) (e inst, bareArgv, trueArgv []string) {
	e = install("one", base)
	e.cli("add", testrig.HostA)
	e.call("ffmpeg", "-version") // check + master
	c, err := config.Parse(must1(os.ReadFile(e.config)), os.LookupEnv)
	must(err)
	ssh := setup.SSH(c, testrig.HostA) // the shim's own socket path
	bareArgv = ssh.Argv(remote.Join([]string{"/usr/bin/ffmpeg", "-version"}), remote.Quiet(true))
	noMux := e.with(remote.MuxEnv + "=0")
	bare, shim, added := paired(func() { run(bareArgv...) }, func() { e.call("ffmpeg", "-version") })
	fmt.Printf("remote  bare ssh ffmpeg -version (warm master)  %s\n", bare)
	fmt.Printf("remote  rffmpeg ffmpeg -version (same master)   %s   added %+.1f ms (paired median), ratio %.2fx  [target <= +2 ms]\n",
		shim, ms(added), float64(shim.med)/float64(bare.med))
	_, shimS, addedS := paired(func() { run(bareArgv...) }, func() { noMux.call("ffmpeg", "-version") })
	fmt.Printf("remote  same, RFFMPEG_SSH_MUX=0 (ssh client)    %s   added %+.1f ms (paired median)\n", shimS, ms(addedS))
	trueArgv = ssh.Argv("/bin/true", remote.Quiet(true))
	bareT, shimT, addedT := paired(func() { run(trueArgv...) }, func() { e.call("rffmpeg", "run", "/bin/true") })
	fmt.Printf("remote  bare ssh /bin/true (warm master)        %s\n", bareT)
	fmt.Printf("remote  rffmpeg run /bin/true (same master)     %s   added %+.1f ms (paired median), ratio %.2fx\n",
		shimT, ms(addedT), float64(shimT.med)/float64(bareT.med))
	n := min(*runs, 20)
	fmt.Printf("memory  bare ssh ffmpeg -version                %s\n", memStats(n, func() *exec.Cmd { return exec.Command(bareArgv[0], bareArgv[1:]...) }))
	fmt.Printf("memory  rffmpeg ffmpeg -version (remote)        %s  [target <= 12 MiB]\n", memStats(n, func() *exec.Cmd { return e.cmd("ffmpeg", "-version") }))
	fmt.Printf("memory  same, RFFMPEG_SSH_MUX=0                 %s\n", memStats(n, func() *exec.Cmd { return noMux.cmd("ffmpeg", "-version") }))
	long := func(i inst) func() *exec.Cmd { // a job long enough for the guardian
		return func() *exec.Cmd { return i.cmd("rffmpeg", "run", "sleep", "0.3") }
	}
	fmt.Printf("memory  rffmpeg run sleep 0.3 (remote)          %s\n", memStats(min(n, 8), long(e)))
	fmt.Printf("memory  same, RFFMPEG_SSH_MUX=0                 %s\n", memStats(min(n, 8), long(noMux)))
	m := media()
	for _, mux := range []string{"1", "0"} {
		i := e.with(remote.MuxEnv + "=" + mux)
		log := filepath.Join(e.dir, "rffmpeg.log")
		busy0 := countLines(log, ", running on the fallback: ")
		peak, pss, took := scanMemory(200, func() *exec.Cmd {
			return i.cmd("ffprobe", "-v", "error", "-show_format", m)
		})
		fmt.Printf("scan    200 ffprobe calls at once, MUX=%s: peak %6.1f MiB summed RSS, %6.1f MiB summed PSS (%.1f MiB per call), %.1f s, %d ran locally (database busy)\n",
			mux, mib(peak), mib(pss), mib(pss)/200, took.Seconds(), countLines(log, ", running on the fallback: ")-busy0)
	}
	return e, bareArgv, trueArgv
}

// benchRemoteHelper: the remote rows again with the state helper running
// (rffmpeg serve), each against the bare ssh and against a call that
// ignores the helper (RFFMPEG_STATE_HELPER=0), interleaved.
func benchRemoteHelper(e inst, bareArgv, trueArgv []string) {
	defer startHelper(e)()
	helperRows(e, "helper  rffmpeg %-16s (state helper)  %s   added %+.1f ms over bare ssh, %+.1f ms against no helper (paired medians)\n",
		helperRow{"ffmpeg -version", bareArgv, []string{"ffmpeg", "-version"}},
		helperRow{"run /bin/true", trueArgv, []string{"rffmpeg", "run", "/bin/true"}})
	n := min(*runs, 20)
	fmt.Printf("memory  rffmpeg ffmpeg -version (remote, helper) %s  [target <= 12 MiB]\n", memStats(n, func() *exec.Cmd { return e.cmd("ffmpeg", "-version") }))
	log := filepath.Join(e.dir, "rffmpeg.log")
	busy0 := countLines(log, ", running on the fallback: ")
	peak, pss, took := scanMemory(200, func() *exec.Cmd { return e.cmd("ffprobe", "-v", "error", "-show_format", media()) })
	fmt.Printf("scan    200 ffprobe calls at once, MUX=1, state helper: peak %6.1f MiB summed RSS, %6.1f MiB summed PSS (%.1f MiB per call), %.1f s, %d ran locally (database busy)\n",
		mib(peak), mib(pss), mib(pss)/200, took.Seconds(), countLines(log, ", running on the fallback: ")-busy0)
}

// helperRow is a call measured with the helper running: against its
// baseline (base, run directly) and against itself ignoring the helper.
type helperRow struct {
	name string
	base []string
	args []string
}

// helperRows prints each row with format (name, stats, added, gain).
func helperRows(i inst, format string, rows ...helperRow) {
	alone := i.with(shim.HelperEnv + "=0")
	for _, row := range rows {
		call := func() { i.call(row.args[0], row.args[1:]...) }
		_, helped, added := paired(func() { run(row.base...) }, call)
		_, _, gain := paired(func() { alone.call(row.args[0], row.args[1:]...) }, call)
		fmt.Printf(format, row.name, helped, ms(added), ms(gain))
	}
}

// startHelper runs `rffmpeg serve` for i until the returned stop; it
// returns once the helper's socket is there.
func startHelper(i inst) (stop func()) {
	c := i.cmd("rffmpeg", "serve")
	must(c.Start())
	sock := filepath.Join(i.dir, "rffmpeg-"+strconv.Itoa(os.Geteuid()), shim.KeeperSocket)
	for t0 := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Lstat(sock); err == nil {
			break
		}
		if time.Since(t0) > 10*time.Second {
			c.Process.Kill()
			panic("rffmpeg serve did not start")
		}
	}
	return func() { c.Process.Signal(syscall.SIGTERM); c.Wait() }
}

// countLines is how many lines of the file at path contain substr.
func countLines(path, substr string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), substr)
}

// media is a short file for the scan's ffprobe calls.
func media() string {
	p := filepath.Join(*dir, "bench-media.mkv")
	if _, err := os.Stat(p); err != nil {
		os.Chmod(*dir, 0o755)
		must(exec.Command("/usr/bin/ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=1", p).Run())
		os.Chmod(p, 0o644)
	}
	return p
}

// benchFallback: fallback vs direct exec.
func benchFallback(base []byte) inst {
	f := install("fallback", base)
	direct, fb, addedF := paired(func() { run("/usr/bin/ffmpeg", "-version") }, func() { f.call("ffmpeg", "-version") })
	fmt.Printf("local   /usr/bin/ffmpeg -version                %s\n", direct)
	fmt.Printf("local   rffmpeg fallback ffmpeg -version        %s   added %+.1f ms (paired median)  [target <= +3 ms]\n", fb, ms(addedF))
	dt, ft, addedT := paired(func() { run("/bin/true") }, func() { f.call("rffmpeg", "run", "/bin/true") })
	fmt.Printf("local   /bin/true                               %s\n", dt)
	fmt.Printf("local   rffmpeg run /bin/true (fallback)        %s   added %+.1f ms (paired median)\n", ft, ms(addedT))
	// The part of that no configuration, database or log file can save:
	// the start-up of this binary (Go runtime and package init) and nothing else.
	_, st, addedS := paired(func() { run("/bin/true") }, func() { f.call("rffmpeg", "--version") })
	fmt.Printf("local   rffmpeg --version (start-up only)       %s   added %+.1f ms (paired median)\n", st, ms(addedS))
	n := min(*runs, 20)
	fmt.Printf("memory  /usr/bin/ffmpeg -version                %s\n", memStats(n, func() *exec.Cmd { return exec.Command("/usr/bin/ffmpeg", "-version") }))
	fmt.Printf("memory  rffmpeg fallback ffmpeg -version        %s\n", memStats(n, func() *exec.Cmd { return f.cmd("ffmpeg", "-version") }))
	return f
}

// benchFallbackHelper: the fallback rows with the state helper running.
func benchFallbackHelper(f inst) {
	defer startHelper(f)()
	helperRows(f, "local   rffmpeg fallback %-15s (helper) %s   added %+.1f ms over direct exec, %+.1f ms against no helper (paired medians)  [target <= +3 ms]\n",
		helperRow{"ffmpeg -version", []string{"/usr/bin/ffmpeg", "-version"}, []string{"ffmpeg", "-version"}},
		helperRow{"run /bin/true", []string{"/bin/true"}, []string{"rffmpeg", "run", "/bin/true"}})
	n := min(*runs, 20)
	fmt.Printf("memory  rffmpeg fallback ffmpeg -version, helper %s\n", memStats(n, func() *exec.Cmd { return f.cmd("ffmpeg", "-version") }))
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
		h.cli("add", "--no-check", "-n", "bad", bad.addr)
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
	return stats{ds[len(ds)/2], ds[0], ds[len(ds)-1]}
}

type stats struct{ med, min, max time.Duration }

func (s stats) String() string {
	return fmt.Sprintf("%6.1f ms (%5.1f–%6.1f)", ms(s.med), ms(s.min), ms(s.max))
}

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

type inst struct {
	dir, config string
	env         []string // added to the environment of its calls
}

// with is the installation called with extra environment.
func (i inst) with(env ...string) inst {
	i.env = append(append([]string{}, i.env...), env...)
	return i
}

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
	i := inst{dir: d, config: p}
	i.cli("init", "--no-root", "-y")
	return i
}

func (i inst) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(*dir, "bin", name), args...)
	c.Env = append(append(os.Environ(), "RFFMPEG_CONFIG="+i.config), i.env...)
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

func must1[T any](v T, err error) T {
	must(err)
	return v
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
