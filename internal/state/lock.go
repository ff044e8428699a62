package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"
)

// SQLite makes a writer that finds the database locked retry through a busy
// handler. The driver's default retries about every millisecond: with a
// library scan's 200 shims waiting, they spin the CPU and starve the one
// holding the lock (measured: 200 concurrent one-second jobs took 24 s and
// ~46 s of CPU; with the queue below, 2.2 s and ~2.3 s). So our
// writers first queue on a flock of rffmpeg.db.lock, where a waiter costs a
// sleep and one system call per try, and SQLite's own retries (for writers
// that are not ours, such as the original rffmpeg) back off as SQLite's
// default handler does.

// backoff is the busy handler: SQLite's default delays, with jitter, for up
// to a minute.
func backoff(ctx context.Context, count int) bool {
	delays := []time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}
	d := 100 * time.Millisecond
	if count < len(delays) {
		d = delays[count] * time.Millisecond
	}
	var total time.Duration
	for i := 0; i < count && i < len(delays); i++ {
		total += delays[i] * time.Millisecond
	}
	if count >= len(delays) {
		total += time.Duration(count-len(delays)+1) * 100 * time.Millisecond
	}
	if total > time.Minute || ctx.Err() != nil {
		return false
	}
	return sleep(ctx, d/2+rand.N(d/2+1))
}

// writeLock waits for this store's turn to write (SQLite only) and returns
// the release. It gives up when ctx ends (a stuck holder must not stall a
// call past its deadline); without a deadline, after a minute it goes on
// without the queue (the busy handler still keeps writers correct).
func (s *Store) writeLock(ctx context.Context) (func(), error) {
	if s.d.name() != SQLite || s.noLock {
		return func() {}, nil
	}
	s.lockOnce.Do(func() {
		d, err := statDB(s.opts.Path)
		if err == nil {
			s.lock, err = openWriteLock(s.opts.Path, d)
		}
		if err != nil {
			s.warn(err.Error())
		}
	})
	if s.lock == nil {
		return func() {}, nil
	}
	fd := int(s.lock.Fd())
	deadline := time.Now().Add(time.Minute)
	wait := 500 * time.Microsecond
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(fd, syscall.LOCK_UN) }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR || time.Now().After(deadline) {
			return func() {}, nil
		}
		if !sleep(ctx, wait/2+rand.N(wait/2+1)) {
			return nil, fmt.Errorf("wait for the write lock %s.lock: %w", s.opts.Path, ctx.Err())
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
