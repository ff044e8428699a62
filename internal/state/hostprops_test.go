package state_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

func ptr[T any](v T) *T { return &v }

func TestHostProps(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, err := s.AddHostWith(ctx, "gpu1.lan", "gpu1", 2, state.HostProps{MaxJobs: ptr(4), Priority: ptr(1), AddTags: []string{"nvidia", "gpu"}}, now)
		if err != nil {
			t.Fatal(err)
		}
		if a.MaxJobs != 4 || a.Priority != 1 || !reflect.DeepEqual(a.Tags, []string{"gpu", "nvidia"}) {
			t.Errorf("added %+v", a)
		}
		b, _ := s.AddHost(ctx, "gpu1.lan", "gpu1b", 1, now) // the same hostname again
		if b.MaxJobs != 0 || b.Tags != nil || !b.ProbedAt.IsZero() {
			t.Errorf("plain host has properties: %+v", b)
		}
		// By hostname: every host with it.
		got, err := s.SetHostProps(ctx, "gpu1.lan", state.HostProps{Priority: ptr(3)})
		if err != nil || len(got) != 2 || got[0].Priority != 3 || got[1].Priority != 3 {
			t.Errorf("by hostname: %+v, %v", got, err)
		}
		got, err = s.SetHostProps(ctx, "gpu1b", state.HostProps{Tags: ptr([]string{"x", "y"}), DelTags: []string{"y"}, AddTags: []string{"z"},
			FFmpeg: ptr("/opt/ffmpeg/bin/ffmpeg"), WoLMAC: ptr("AA-BB-CC-DD-EE-FF"), WoLAddr: ptr("192.168.1.255:9")})
		if err != nil || len(got) != 1 {
			t.Fatalf("SetHostProps = %+v, %v", got, err)
		}
		h := got[0]
		if !reflect.DeepEqual(h.Tags, []string{"x", "z"}) || h.FFmpeg != "/opt/ffmpeg/bin/ffmpeg" || h.WoLMAC != "aa:bb:cc:dd:ee:ff" || h.WoLAddr != "192.168.1.255:9" {
			t.Errorf("set: %+v", h)
		}
		// By key: -tag, and "" resets a path.
		h, err = s.SetHostPropsByKey(ctx, a.Key(), state.HostProps{DelTags: []string{"nvidia"}, FFmpeg: ptr(""), MaxJobs: ptr(0)})
		if err != nil || !reflect.DeepEqual(h.Tags, []string{"gpu"}) || h.MaxJobs != 0 || h.Priority != 3 {
			t.Errorf("by key: %+v, %v", h, err)
		}
		if _, err := s.SetHostPropsByKey(ctx, state.HostKey{ID: a.ID, Servername: "other"}, state.HostProps{MaxJobs: ptr(1)}); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("stale key: %v", err)
		}
		for _, bad := range []state.HostProps{
			{MaxJobs: ptr(-1)}, {AddTags: []string{"a,b"}}, {AddTags: []string{"-x"}}, {AddTags: []string{""}},
			{WoLMAC: ptr("zz:zz")}, {WoLAddr: ptr("a b")}, {WoLAddr: ptr("host:99999")}, {FFprobe: ptr("-oops")},
		} {
			if _, err := s.SetHostProps(ctx, "gpu1", bad); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("%+v accepted: %v", bad, err)
			}
		}
		// Capabilities, probed.
		if _, err := s.SetCapabilities(ctx, a.Key(), []string{"cuda", "enc:h264_nvenc"}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMachineCapabilities(ctx, "m1", []string{"vaapi"}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMachineCapabilities(ctx, "m1", nil, now.Add(time.Minute)); err != nil { // probed again: nothing now
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h := snap.Hosts[0]; !reflect.DeepEqual(h.Capabilities, []string{"cuda", "enc:h264_nvenc"}) || !h.ProbedAt.Equal(now) {
			t.Errorf("capabilities %+v at %v", h.Capabilities, h.ProbedAt)
		}
		if len(snap.Machines) != 1 || snap.Machines[0].Capabilities != nil || !snap.Machines[0].ProbedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("machines %+v", snap.Machines)
		}
		// Removing a host takes its properties: a new host with its id
		// starts bare.
		if _, err := s.RemoveHosts(ctx, "gpu1b"); err != nil {
			t.Fatal(err)
		}
		c, _ := s.AddHost(ctx, "new.lan", "", 1, now)
		if c.Tags != nil || c.FFmpeg != "" || c.WoLMAC != "" {
			t.Errorf("a new host inherited properties: %+v", c)
		}
	})
}

// A property another tool wrote badly leaves that host out, reported, as
// with the original's columns.
func TestMalformedHostProps(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		a, _ := s.AddHostWith(ctx, "a", "", 1, state.HostProps{MaxJobs: ptr(2)}, now)
		s.AddHost(ctx, "b", "", 1, now)
		raw := statetest.Raw(t, o)
		defer raw.Close()
		if _, err := raw.Exec(state.Rebind(o.Backend, `UPDATE rffmpeg_hosts SET max_jobs = -5 WHERE host_id = ?`), a.ID); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil || len(snap.Hosts) != 1 || len(snap.Malformed) != 1 || !strings.Contains(snap.Malformed[0].Problem, "max_jobs") {
			t.Errorf("hosts %+v malformed %+v %v", snap.Hosts, snap.Malformed, err)
		}
	})
}

// The queue through Acquire: a Wait decision records the caller, a later
// Wait keeps its place, a grant removes it, a dead waiter is reaped.
func TestQueueRows(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "a", "", 1, now)
		wait := func(state.Snapshot) state.Decision { return state.Decision{Wait: true} }
		claim := state.Claim{PID: 4242, Owner: "m|b|1", Cmd: "ffmpeg -i x", Now: now}
		req := state.AcquireRequest{Claim: claim, Class: "transcode", Needs: []string{"cuda", "enc:h264_nvenc"}}
		l, d, _, err := s.Acquire(ctx, req, wait)
		if err != nil || !d.Wait || l.Waiting == 0 || l.ProcessID != 0 {
			t.Fatalf("wait: %+v %+v %v", l, d, err)
		}
		other := state.AcquireRequest{Claim: state.Claim{PID: 4343, Owner: "m|b|2", Cmd: "ffmpeg -i y", Now: now.Add(time.Second)}}
		l2, _, _, _ := s.Acquire(ctx, other, wait)
		req.Waiting, req.Claim.Now = l.Waiting, now.Add(2*time.Second)
		again, _, snap, err := s.Acquire(ctx, req, wait)
		if err != nil || again.Waiting != l.Waiting {
			t.Errorf("second wait moved the row: %d → %d, %v", l.Waiting, again.Waiting, err)
		}
		if len(snap.Queue) != 2 || snap.Queue[0].ID != l.Waiting || snap.Queue[1].ID != l2.Waiting {
			t.Fatalf("queue %+v", snap.Queue)
		}
		w := snap.Queue[0]
		if w.PID != 4242 || w.Class != "transcode" || !reflect.DeepEqual(w.Needs, []string{"cuda", "enc:h264_nvenc"}) || !w.Since.Equal(now) {
			t.Errorf("waiter %+v", w)
		}
		// Granted: the row goes in the same transaction; the dead one is reaped.
		lease, _, _, err := s.Acquire(ctx, req, func(snap state.Snapshot) state.Decision {
			return state.Decision{HostID: h.ID, ReapQueue: []int64{l2.Waiting}}
		})
		if err != nil || lease.ProcessID == 0 {
			t.Fatal(err)
		}
		snap, _ = s.Snapshot(ctx)
		if len(snap.Queue) != 0 || len(snap.Processes) != 1 {
			t.Errorf("after grant: queue %+v, %d processes", snap.Queue, len(snap.Processes))
		}
		l3, _, _, _ := s.Acquire(ctx, other, wait)
		if err := s.LeaveQueue(ctx, l3.Waiting); err != nil {
			t.Fatal(err)
		}
		if snap, _ = s.Snapshot(ctx); len(snap.Queue) != 0 {
			t.Errorf("after LeaveQueue: %+v", snap.Queue)
		}
		// clear (everything) empties the queue; a waiter whose row went
		// queues again on its next try, at the end.
		l4, _, _, _ := s.Acquire(ctx, other, wait)
		if c, err := s.Clear(ctx, "", false); err != nil || c.Queued != 1 {
			t.Errorf("clear: %+v, %v", c, err)
		}
		other.Waiting = l4.Waiting
		l5, _, _, _ := s.Acquire(ctx, other, wait)
		snap, _ = s.Snapshot(ctx)
		if l5.Waiting == 0 || len(snap.Queue) != 1 || snap.Queue[0].ID != l5.Waiting {
			t.Errorf("requeue after clear: %+v, queue %+v", l5, snap.Queue)
		}
	})
}

// A version-3 database (rffmpeg_hosts without the property columns) gains
// them, keeping what it had.
func TestMigratesVersion3(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		h, _ := s.AddHost(ctx, "a", "", 1, now)
		if _, err := s.SetDrain(ctx, "a", true); err != nil {
			t.Fatal(err)
		}
		s.Close()
		raw := statetest.Raw(t, o)
		defer raw.Close()
		stmts := []string{`DROP TABLE rffmpeg_queue`, `DROP TABLE rffmpeg_machines`, `UPDATE rffmpeg_schema SET version = 3`}
		for _, c := range []string{"max_jobs", "priority", "tags", "capabilities", "probed_at", "ffmpeg", "ffprobe", "wol_mac", "wol_addr"} {
			stmts = append(stmts, `ALTER TABLE rffmpeg_hosts DROP COLUMN `+c)
		}
		for _, q := range stmts {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		s2, err := state.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		got, err := s2.SetHostPropsByKey(ctx, h.Key(), state.HostProps{MaxJobs: ptr(3)})
		if err != nil || !got.Drain || got.MaxJobs != 3 {
			t.Errorf("after migration: %+v, %v", got, err)
		}
		var v int
		if err := raw.QueryRow(`SELECT version FROM rffmpeg_schema`).Scan(&v); err != nil || v != state.SchemaVersion {
			t.Errorf("version %d, %v", v, err)
		}
	})
}
