package shim

import (
	"context"
	"fmt"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/selector"
	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/wol"
)

// Hosts that sleep (issue 13 §5). When no awake host can take a job and a
// host with a Wake-on-LAN address is bad (it did not answer: asleep), the
// route says Wait with that host to wake. The call then, on each turn of
// its wait loop: sends the magic packet (again every wakeResend: a NIC
// may miss one while it settles into sleep), checks the host's SSH at
// most every wakeCheckEvery, and once the host answers clears its bad
// mark, so the next selection takes it. A host that has not answered
// within scheduling.queue_timeout is marked bad "did not wake": until
// that mark expires no call wakes it again, and this call falls back as
// configured.

const (
	wakeResend     = 5 * time.Second
	wakeCheckEvery = time.Second
)

// waking is a call's wake of one host in progress.
type waking struct {
	id                     int64
	since, sent, lastCheck time.Time
}

// wake does one turn of waking host id (see above).
func (c *call) wake(ctx context.Context, id int64) {
	now := time.Now()
	if c.waking.id != id {
		c.waking = waking{id: id, since: now}
	}
	w := &c.waking
	dbCtx, cancel := c.dbContext(ctx)
	h, err := c.store.Host(dbCtx, id)
	cancel()
	if err != nil || h.WoLMAC == "" {
		return
	}
	hv := selector.HostView{Host: h}
	if now.Sub(w.since) >= c.o.QueueTimeout {
		reason := fmt.Sprintf("%s: no SSH answer within %s of the Wake-on-LAN packet", selector.WakeFailed, c.o.QueueTimeout)
		c.log.Errorf("Marking host %s (%s) as bad: %s", h.Hostname, h.Servername, reason)
		claim := state.Claim{PID: c.env.Self.PID, Owner: c.env.Self.String(), Now: c.env.Now()}
		dbCtx, cancel := c.dbContext(ctx)
		if err := c.store.MarkBad(dbCtx, id, claim, reason); err != nil {
			c.log.Warnf("%v", err)
		}
		cancel()
		return
	}
	if now.Sub(w.sent) >= wakeResend {
		w.sent = now
		c.log.Infof("Waking %s: Wake-on-LAN to %s", hostLabel(hv), wol.Addr(h.WoLAddr))
		if err := wol.Send(h.WoLAddr, h.WoLMAC); err != nil {
			c.log.Warnf("%v", err)
		}
	}
	if now.Sub(w.lastCheck) < wakeCheckEvery {
		return
	}
	w.lastCheck = now
	began := time.Now()
	if r := c.env.Runner.Check(ctx, c.sshFor(h), c.hostFFmpeg(h), c.o.Timeouts.Check); r.Code != 0 {
		c.log.Debugf("%s not awake yet: %s", hostLabel(hv), r.Reason)
		return
	}
	c.log.Infof("Woke %s: it answered after %v", hostLabel(hv), time.Since(w.since).Round(time.Millisecond))
	dbCtx, cancel = c.dbContext(ctx)
	defer cancel()
	if _, err := c.store.ClearByKey(dbCtx, h.Key(), true); err != nil {
		c.log.Warnf("%v", err)
	}
	c.store.RecordCheck(dbCtx, c.checkResult(hv, began, "")) // the check that found it awake
}
