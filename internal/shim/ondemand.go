package shim

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// The on_demand hook (issue 13 §5): scheduling.on_demand names an
// executable run when no awake host can take a job (every usable host is
// full or none is usable, or none has what the job needs) and no sleeping
// host can be woken for it; an autoscaler starts a host and `rffmpeg add`s
// it. It gets Need as JSON on stdin. Once per call, started beside the
// job; the call waits for it at its end, at most on_demand_timeout, then
// kills it (its process group). Its failure is logged; it never fails the
// job.

// Need is what the hook receives.
type Need struct {
	Reason  string   `json:"reason"` // why no awake host can take the job
	Tool    string   `json:"tool"`   // ffmpeg or ffprobe
	Class   string   `json:"class"`  // probe, transcode, … (see jobclass)
	Needs   []string `json:"needs"`  // capability tokens (enc:libx264, cuda, …)
	Machine string   `json:"machine"`
	PID     int      `json:"pid"`
	Pool    Pool     `json:"pool"`
}

// Pool summarizes the hosts as the call saw them.
type Pool struct {
	Hosts    int `json:"hosts"`
	Usable   int `json:"usable"` // neither bad nor draining
	Full     int `json:"full"`   // usable and at max_jobs
	Bad      int `json:"bad"`    // failed a check (or asleep)
	Draining int `json:"draining"`
	Running  int `json:"running"`  // jobs on hosts
	Queued   int `json:"queued"`   // calls waiting for capacity
	Fallback int `json:"fallback"` // jobs on the local fallback
}

// needsHost reports whether a route means no awake host could take the job.
func needsHost(r selector.Route) bool {
	switch r.Why {
	case selector.ReasonFull, selector.ReasonWait, selector.ReasonRejectFull, selector.ReasonQueueFull,
		selector.ReasonUnsatisfied, selector.ReasonFallback, selector.ReasonNone:
		return true
	}
	return false
}

// poolOf summarizes a classified snapshot.
func poolOf(v selector.View) Pool {
	p := Pool{Hosts: len(v.Hosts), Queued: len(v.Queue), Fallback: len(v.Fallback) + v.FallbackCounted}
	for _, h := range v.Hosts {
		p.Running += h.Running()
		switch h.State {
		case state.StateBad:
			p.Bad++
		case state.StateDraining:
			p.Draining++
		default:
			p.Usable++
			if h.Full() {
				p.Full++
			}
		}
	}
	return p
}

// onDemand starts the hook for route r once per call (nothing when none is
// configured, or the route found a host).
func (c *call) onDemand(r selector.Route, snap state.Snapshot) {
	if c.o.OnDemand == "" || c.hook != nil || !needsHost(r) || c.job.Tool == "" {
		return
	}
	pol := c.o.Policy(c.env.Now(), c.env.Self)
	need := Need{Reason: string(r.Why), Tool: c.job.Tool, Class: string(c.job.Class), Needs: c.job.Needs.Tokens(),
		Machine: c.env.Self.Machine, PID: c.env.Self.PID, Pool: poolOf(pol.Classify(snap))}
	if need.Needs == nil {
		need.Needs = []string{}
	}
	in, _ := json.Marshal(need)
	cmd := exec.Command(c.o.OnDemand)
	cmd.Stdin = bytes.NewReader(append(in, '\n'))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // its words go to the log, never to the caller
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = os.Environ()
	done := make(chan struct{})
	c.hook = done
	if err := cmd.Start(); err != nil {
		c.log.Errorf("on_demand hook %s: %v", c.o.OnDemand, err)
		close(done)
		return
	}
	c.log.Infof("Running the on_demand hook %s: %s", c.o.OnDemand, in)
	t0 := time.Now()
	go func() {
		defer close(done)
		timer := time.AfterFunc(c.o.OnDemandTimeout, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		err := cmd.Wait()
		killed := !timer.Stop()
		took := time.Since(t0).Round(time.Millisecond)
		switch {
		case killed:
			c.log.Errorf("on_demand hook %s killed after %s (scheduling.on_demand_timeout): %s", c.o.OnDemand, c.o.OnDemandTimeout, bytes.TrimSpace(out.Bytes()))
		case err != nil:
			c.log.Errorf("on_demand hook %s failed after %v: %v: %s", c.o.OnDemand, took, err, bytes.TrimSpace(out.Bytes()))
		default:
			c.log.Infof("on_demand hook %s done in %v: %s", c.o.OnDemand, took, bytes.TrimSpace(out.Bytes()))
		}
	}()
}

// waitHook waits for a started hook, at most its timeout (and a moment for
// the kill to land).
func (c *call) waitHook() {
	if c.hook == nil {
		return
	}
	select {
	case <-c.hook:
	case <-time.After(c.o.OnDemandTimeout + 2*time.Second):
		c.log.Warnf("on_demand hook %s still running at exit", c.o.OnDemand)
	}
}
