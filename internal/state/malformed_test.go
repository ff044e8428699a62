package state_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
	"github.com/rffmpeg/rffmpeg/internal/state/statetest"
)

// TestMalformedRows: rows another tool wrote with values that mean nothing
// (SQLite stores 'abc' in an INTEGER column) are left out and reported;
// selection, the snapshot and removal of those very rows keep working.
func TestMalformedRows(t *testing.T) {
	forEach(t, func(t *testing.T, o state.Options) {
		s := initStore(t, o)
		good, _ := s.AddHost(ctx, "good.lan", "", 1, now)
		db := statetest.Raw(t, o)
		defer db.Close()
		// Each case: statements writing one bad row, the table it lands in.
		type bad struct {
			name, table string
			stmts       []string
			problem     string
		}
		cases := []bad{
			{"dash hostname", "hosts", []string{`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('evil', '-oProxyCommand=touch /tmp/x', 1, '2024-01-01 00:00:00')`}, "starts with '-'"},
		}
		if o.Backend == state.SQLite {
			cases = append(cases,
				bad{"weight abc", "hosts", []string{`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('w', 'w.lan', 'abc', '2024-01-01 00:00:00')`}, `weight "abc"`},
				bad{"drain yes", "hosts", []string{
					`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('d', 'd.lan', 1, '2024-01-01 00:00:00')`,
					`INSERT INTO rffmpeg_hosts (host_id, servername, created, drain) SELECT id, servername, created, 'yes' FROM hosts WHERE servername = 'd'`,
				}, `drain "yes"`},
				bad{"process_id abc", "processes", []string{`INSERT INTO processes (host_id, process_id, cmd) VALUES (1, 'abc', 'ffmpeg')`}, `process_id "abc"`},
				bad{"host_id abc", "states", []string{`INSERT INTO states (host_id, process_id, state) VALUES ('abc', 1, 'bad')`}, `host_id "abc"`},
			)
		}
		for _, c := range cases {
			for _, q := range c.stmts {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		// Harmless oddities are read, not refused: a created of 2024 or
		// 'abc', a weight of 0, a NULL weight.
		harmless := []string{
			`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('odd', 'odd.lan', 0, '20000-01-01 00:00:00')`,
		}
		if o.Backend == state.PostgreSQL {
			harmless = append(harmless, `INSERT INTO hosts (servername, hostname, weight, created) VALUES ('inf', 'inf.lan', 1, 'infinity')`)
		}
		if o.Backend == state.SQLite {
			harmless = append(harmless,
				`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('y2024', 'y.lan', NULL, '2024')`,
				`INSERT INTO hosts (servername, hostname, weight, created) VALUES ('yabc', 'y.lan', 2, 'abc')`)
		}
		for _, q := range harmless {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}

		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatalf("snapshot with malformed rows: %v", err)
		}
		var got []string
		for _, m := range snap.Malformed {
			got = append(got, m.String())
		}
		if len(got) != len(cases) {
			t.Errorf("malformed = %q, want %d", got, len(cases))
		}
		for _, c := range cases {
			found := false
			for _, m := range snap.Malformed {
				found = found || (m.Table == c.table && strings.Contains(m.Problem, c.problem))
			}
			if !found {
				t.Errorf("%s: not reported in %q", c.name, got)
			}
		}
		if want := 1 + len(harmless); len(snap.Hosts) != want {
			t.Errorf("%d usable hosts, want %d: %+v", len(snap.Hosts), want, snap.Hosts)
		}
		for _, h := range snap.Hosts {
			if h.ID != good.ID && !h.Created.IsZero() || h.Weight < 1 {
				t.Errorf("host %s: created %v weight %d; want unknown and at least 1", h.Servername, h.Created, h.Weight)
			}
		}
		if _, err := json.Marshal(snap); err != nil {
			t.Errorf("JSON of the snapshot: %v", err)
		}
		// Selection works around them.
		claim := state.Claim{PID: 4242, Owner: "us", Cmd: "ffmpeg", Now: now}
		if _, _, _, err := s.Acquire(ctx, state.AcquireRequest{Claim: claim}, statetest.LeastBusy); err != nil {
			t.Errorf("acquire with malformed rows: %v", err)
		}
		// remove deletes each malformed host by its id; clear the other rows.
		for _, m := range snap.Malformed {
			if m.Table != "hosts" {
				continue
			}
			if removed, err := s.RemoveHosts(ctx, strconv.FormatInt(m.ID, 10)); err != nil || len(removed) != 1 {
				t.Errorf("remove malformed host %d: %v %v", m.ID, removed, err)
			}
		}
		if _, err := s.Clear(ctx, "", false); err != nil {
			t.Errorf("clear: %v", err)
		}
		if snap, err = s.Snapshot(ctx); err != nil || len(snap.Malformed) != 0 {
			t.Errorf("after remove and clear: %v %v", snap.Malformed, err)
		}
	})
}
