package tui

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

// press sends one key and runs the command it returns (a write) to its
// message, as the program would; the view is not reloaded.
func (f *fixture) press(k string) {
	f.t.Helper()
	msg := tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
	switch k {
	case "enter":
		msg = tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		msg = tea.KeyPressMsg{Code: tea.KeyEscape}
	}
	next, cmd := f.m.Update(msg)
	f.m = next.(Model)
	if cmd != nil {
		if out := cmd(); out != nil {
			f.send(out)
		}
	}
}

// A key pressed on a row whose host was removed meanwhile never reaches
// another host, even one whose server name and hostname are the removed
// id's digits and (SQLite reuses the last id) whose id is the same number.
func TestStaleRowNeverReachesAnotherHost(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		keys []string
	}{
		{"weight up", []string{"+"}},
		{"weight down", []string{"-"}},
		{"set weight", []string{"w", "5", "enter"}},
		{"drain", []string{"x"}},
		{"clear bad mark", []string{"b"}},
		{"clear rows", []string{"c", "y"}},
		{"remove", []string{"d", "y"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 80, 24)
			f.busyPool()
			f.sync()
			f.keys("j", "j") // host 3, gpu3, as the screen shows it
			sel, _ := f.m.hosts.selected(f.m.view)
			if sel.host == nil || sel.host.ID != 3 {
				t.Fatalf("selected %+v", sel)
			}
			if _, err := f.store.RemoveHostByKey(ctx, sel.host.Key()); err != nil {
				t.Fatal(err)
			}
			decoy, err := f.store.AddHost(ctx, "3", "3", 1, now)
			if err != nil {
				t.Fatal(err)
			}
			claim := state.Claim{PID: 5000, Owner: "test|boot|1", Cmd: "ffmpeg -i decoy", Now: now}
			if _, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: decoy.ID} }); err != nil {
				t.Fatal(err)
			}
			for _, k := range c.keys {
				f.press(k)
			}
			if !f.m.statusErr || !strings.Contains(f.m.status, "host no longer exists") {
				t.Errorf("status %q (error %v), want host no longer exists", f.m.status, f.m.statusErr)
			}
			got, err := f.store.Host(ctx, decoy.ID)
			if err != nil || got.Servername != "3" || got.Weight != 1 || got.Drain {
				t.Errorf("host %q changed: %+v, %v", "3", got, err)
			}
			snap, _ := f.store.Snapshot(ctx)
			jobs := 0
			for _, p := range snap.Processes {
				if p.HostID == decoy.ID {
					jobs++
				}
			}
			if jobs != 1 {
				t.Errorf("host %q has %d process rows, want 1", "3", jobs)
			}
		})
	}
}

// countingOps counts the snapshots the console reads.
type countingOps struct {
	*state.Store
	reads atomic.Int32
}

func (c *countingOps) Snapshot(ctx context.Context) (state.Snapshot, error) {
	c.reads.Add(1)
	return c.Store.Snapshot(ctx)
}

// A write triggers no reload of its own: the change feed sees it and the
// console reads the state once.
func TestOneReloadPerWrite(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	ops := &countingOps{Store: f.store}
	f.m.ops = ops
	feed := make(chan tea.Msg, 1)
	go func() { feed <- listen(f.m.watch)() }()
	changed := func(limit time.Duration) tea.Msg {
		select {
		case msg := <-feed:
			if _, ok := msg.(changedMsg); !ok {
				t.Fatalf("change feed sent %T", msg)
			}
			go func() { feed <- listen(f.m.watch)() }()
			return msg
		case <-time.After(limit):
			return nil
		}
	}
	// Changes from outside until the feed reports one: from then on it
	// compares with a version it has read (its first read only records).
	for i := 0; changed(time.Second) == nil; i++ {
		if i == 10 {
			t.Fatal("the change feed saw no change from outside")
		}
		if _, err := f.store.AddHost(context.Background(), fmt.Sprintf("outside%d.lan", i), "", 1, now); err != nil {
			t.Fatal(err)
		}
	}
	next, cmd := f.m.Update(tea.KeyPressMsg{Code: '+', Text: "+"})
	f.m = next.(Model)
	done := cmd()
	if _, ok := done.(doneMsg); !ok {
		t.Fatalf("+ gave %T, want doneMsg", done)
	}
	next, cmd = f.m.Update(done)
	f.m = next.(Model)
	if cmd != nil {
		t.Errorf("the write's result asks for more work (a reload): %T", cmd())
	}
	msg := changed(10 * time.Second)
	if msg == nil {
		t.Fatal("the change feed did not see the write")
	}
	next, cmd = f.m.Update(msg)
	f.m = next.(Model)
	// The feed's batch: one load, and the re-armed listener (left running).
	batch, ok := cmd().(tea.BatchMsg)
	if !ok {
		t.Fatalf("change gave %T, want a batch", cmd())
	}
	for _, c := range batch {
		go c()
	}
	deadline := time.Now().Add(10 * time.Second)
	for ops.reads.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * watchInterval)
	if n := ops.reads.Load(); n != 1 {
		t.Errorf("%d reads after one write, want 1", n)
	}
}

// Enter never confirms a destructive action; only y does. The question
// says what is affected.
func TestConfirmations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 80, 24)
	f.busyPool()
	f.sync()
	f.press("d")
	golden(t, "confirm-remove", f.m)
	if want := "remove host gpu1 (id 1): 2 jobs running"; f.m.confirm.question != want {
		t.Errorf("question %q, want %q", f.m.confirm.question, want)
	}
	f.press("enter")
	if snap, _ := f.store.Snapshot(ctx); len(snap.Hosts) != 3 || f.m.mode != modeNormal {
		t.Fatalf("enter removed a host or left the question open: %d hosts, mode %d", len(snap.Hosts), f.m.mode)
	}
	questions := []struct {
		keys []string
		want string
	}{
		{[]string{"j", "j", "c"}, "clear the process and state rows of gpu3 (id 3): no jobs running, its bad mark goes"},
		{[]string{"k", "C"}, "clear the process and state rows of every host: 4 jobs running on 3 hosts, 1 bad mark goes"},
		{[]string{"j", "j", "c"}, "clear the process and state rows of localhost (fallback): 1 job running"},
	}
	for _, q := range questions {
		for _, k := range q.keys {
			f.press(k)
		}
		if f.m.mode != modeConfirm || f.m.confirm.question != q.want {
			t.Errorf("after %v: mode %d, question %q, want %q", q.keys, f.m.mode, f.m.confirm.question, q.want)
		}
		f.press("esc")
	}
	f.keys("k", "k", "k")
	f.press("d")
	f.press("y")
	if snap, _ := f.store.Snapshot(ctx); len(snap.Hosts) != 2 || !strings.Contains(f.m.status, "removed host gpu1 (id 1)") {
		t.Errorf("y did not remove: %d hosts, status %q", len(snap.Hosts), f.m.status)
	}
}

// "1 host", not "1 hosts".
func TestPlurals(t *testing.T) {
	for _, c := range []struct {
		n          int
		noun, want string
	}{{0, "host", "0 hosts"}, {1, "host", "1 host"}, {2, "process", "2 processes"}, {1, "process", "1 process"}} {
		if got := plural(c.n, c.noun); got != c.want {
			t.Errorf("plural(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
	f := newFixture(t, 80, 24)
	if _, err := f.store.AddHost(context.Background(), "one.lan", "one", 1, now); err != nil {
		t.Fatal(err)
	}
	f.sync()
	if h := ansi.Strip(f.m.headerLine(f.m.frame())); !strings.Contains(h, "1 host · ") || !strings.Contains(h, "0 processes") {
		t.Errorf("header %q", h)
	}
}

// A read-only screen offers no writing key and no key writes.
func TestReadOnly(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.m.cfg.ReadOnly = true
	f.busyPool()
	f.sync()
	f.keys("j", "j") // the bad host: every writing key would apply
	before, _ := f.store.Snapshot(context.Background())
	for _, k := range []string{"a", "d", "y", "+", "-", "x", "b", "c", "y", "C", "y", "w", "m", "1", "enter", "y", "t", "z", "enter", "y"} {
		f.press(k)
	}
	if f.m.mode != modeNormal {
		t.Errorf("a key opened mode %d", f.m.mode)
	}
	after, _ := f.store.Snapshot(context.Background())
	if len(after.Hosts) != len(before.Hosts) || len(after.Marks) != len(before.Marks) || after.Hosts[0].Weight != before.Hosts[0].Weight || after.Hosts[2].Drain ||
		after.Hosts[2].MaxJobs != 0 || len(after.Hosts[2].Tags) != 0 {
		t.Errorf("read-only screen wrote: %+v", after)
	}
	f.keys("?")
	golden(t, "readonly-help", f.m)
	for _, b := range []key.Binding{f.m.keys.Add, f.m.keys.Remove, f.m.keys.WeightUp, f.m.keys.Drain, f.m.keys.ClearBad, f.m.keys.ClearHost, f.m.keys.ClearAll, f.m.keys.MaxJobs, f.m.keys.Tags} {
		if b.Enabled() {
			t.Errorf("%s enabled on a read-only screen", b.Help().Key)
		}
	}
}

// Enter on a host opens its detail, which follows the live data by the
// host's key; esc goes back.
func TestHostDetail(t *testing.T) {
	f := newFixture(t, 80, 24)
	f.busyPool()
	reason := "ssh: connect to host gpu3.lan port 22: Connection refused; then the check gave up after 2 attempts of 1 s each"
	if err := f.store.MarkBad(context.Background(), 3, state.Claim{PID: 4243, Owner: "test|boot|1", Now: now.Add(-5 * time.Second)}, reason); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.keys("j", "j", "enter")
	if f.m.mode != modeDetail {
		t.Fatalf("enter on a host: mode %d", f.m.mode)
	}
	golden(t, "detail", f.m)
	screen := strings.Join(strings.Fields(ansi.Strip(f.m.View().Content)), " ")
	if !strings.Contains(screen, "then the check gave up after 2 attempts of 1 s each") {
		t.Errorf("the reason is not shown in full:\n%s", screen)
	}
	// Removed meanwhile: the detail says so, and shows no other host.
	if _, err := f.store.RemoveHostByKey(context.Background(), state.HostKey{ID: 3, Servername: "gpu3"}); err != nil {
		t.Fatal(err)
	}
	f.sync()
	if got := ansi.Strip(f.m.View().Content); !strings.Contains(got, "gpu3 no longer exists") {
		t.Errorf("detail of a removed host:\n%s", got)
	}
	f.keys("esc")
	if f.m.mode != modeNormal {
		t.Errorf("esc: mode %d", f.m.mode)
	}
}

// A problem a call reported (its log file, its socket directory) shows on
// the status line, as in `rffmpeg status`; an old one does not.
func TestProblemsShown(t *testing.T) {
	f := newFixture(t, 100, 30)
	ctx := context.Background()
	f.store.ReportProblem(ctx, "ssh sockets (uid 107)", "old", now.Add(-time.Hour))
	f.sync()
	if got := ansi.Strip(f.m.View().Content); strings.Contains(got, "⚠") {
		t.Errorf("an hour-old problem is shown:\n%s", got)
	}
	f.store.ReportProblem(ctx, "log file (uid 107)", "log file: open /var/log/x.log: permission denied\x1b[2J", now.Add(-time.Minute))
	f.sync()
	got := ansi.Strip(f.m.View().Content)
	if !strings.Contains(got, "⚠ a call worked around a problem with its log file (uid 107), 1m0s ago: log file: open") {
		t.Errorf("the problem is not on the status line:\n%s", got)
	}
	if strings.Contains(f.m.View().Content, "\x1b[2J") {
		t.Errorf("a control sequence in a problem reached the screen")
	}
}

// A remote job's recorded progress shows before its command; a stalled one
// says so.
func TestProgressShown(t *testing.T) {
	f := newFixture(t, 120, 30)
	f.m.cfg.StallAfter = 2 * time.Minute
	ctx := context.Background()
	if _, err := f.store.AddHost(ctx, "gpu1.lan", "gpu1", 1, now); err != nil {
		t.Fatal(err)
	}
	var leases []state.Lease
	for _, pid := range []int{4301, 4302} {
		claim := state.Claim{PID: pid, Owner: "test|boot|1", Now: now.Add(-time.Minute), Cmd: fmt.Sprintf("ffmpeg -i /media/%d.mkv", pid)}
		l, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: 1} })
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	for i, p := range []state.JobProgress{
		{PID: 4301, Position: 65 * time.Second, HasPosition: true, Speed: 1.5, FPS: 37, At: now, AdvancedAt: now},
		{PID: 4302, Position: 10 * time.Second, HasPosition: true, Speed: 0, At: now, AdvancedAt: now.Add(-5 * time.Minute)},
	} {
		p.ProcessID, p.HostID = leases[i].ProcessID, 1
		if err := f.store.SetProgress(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	got := ansi.Strip(f.m.View().Content)
	for _, want := range []string{"1.50× 00:01:05 ffmpeg -i /media/4301.mkv", "STALLED 00:00:10 ffmpeg -i /media/4302.mkv"} {
		if !strings.Contains(got, want) {
			t.Errorf("the console lacks %q:\n%s", want, got)
		}
	}
}

// K on a running job asks, naming it; only y kills (through Config.Kill,
// which the command wires to `rffmpeg kill`); read-only has no K.
func TestKillKey(t *testing.T) {
	f := newFixture(t, 120, 30)
	var killed []int
	f.m.cfg.Kill = func(_ context.Context, pid int, _ int64) (string, error) {
		killed = append(killed, pid)
		return fmt.Sprintf("killed PID %d", pid), nil
	}
	ctx := context.Background()
	if _, err := f.store.AddHost(ctx, "gpu1.lan", "gpu1", 1, now); err != nil {
		t.Fatal(err)
	}
	claim := state.Claim{PID: 4301, Owner: "test|boot|1", Now: now.Add(-time.Minute), Cmd: "ffmpeg -i /media/a.mkv"}
	if _, _, _, err := f.store.Acquire(ctx, state.AcquireRequest{Claim: claim}, func(state.Snapshot) state.Decision { return state.Decision{HostID: 1} }); err != nil {
		t.Fatal(err)
	}
	f.sync()
	f.keys("tab", "K")
	if got := ansi.Strip(f.m.View().Content); !strings.Contains(got, "kill PID 4301 on gpu1") || !strings.Contains(got, "ffmpeg -i /media/a.mkv") {
		t.Fatalf("no question naming the job:\n%s", got)
	}
	f.keys("enter") // the default is no
	if len(killed) != 0 {
		t.Fatalf("enter killed %v", killed)
	}
	f.keys("K")
	next, cmd := f.m.Update(tea.KeyPressMsg{Code: 'y', Text: "y"})
	f.m = next.(Model)
	if f.m.mode != modeNormal || cmd == nil {
		t.Fatalf("y: mode %v, no command", f.m.mode)
	}
	done, ok := cmd().(doneMsg)
	if !ok || done.err != nil || done.text != "killed PID 4301" || len(killed) != 1 || killed[0] != 4301 {
		t.Errorf("y: %+v, killed %v; want PID 4301 killed once", done, killed)
	}
	ro := newFixture(t, 120, 30)
	ro.m.cfg.ReadOnly, ro.m.cfg.Kill = true, f.m.cfg.Kill
	ro.sync()
	ro.keys("tab", "K")
	if ro.m.mode != modeNormal {
		t.Errorf("read-only asked to kill")
	}
}
