package config

// Keys of frontends sharing one PostgreSQL (several media servers, one
// pool of transcode hosts).

// DefaultLease is database.lease's default, in seconds: a frontend that
// died (its machine, or a SIGKILLed media server container) has its jobs'
// rows reaped by the others within this long of its last heartbeat.
const DefaultLease = 60

// FrontendEnv overrides database.frontend_id (the same name as
// owner.FrontendEnv, which reads it when no configuration is at hand).
const FrontendEnv = "RFFMPEG_FRONTEND_ID"

func (c *Config) frontendFields() []field {
	return []field{
		// "" is this machine (hostname and machine-id). Set it when
		// containers share both, or one machine runs several media servers.
		{key: "database.frontend_id", kind: kString, ptr: &c.Database.FrontendID, def: "", env: FrontendEnv, check: frontendID},
		// Heartbeats run at a quarter of it (at most every 15 s).
		{key: "database.lease", kind: kInt, ptr: &c.Database.Lease, def: DefaultLease, check: lease},
	}
}

// frontendID: empty (this machine) or 1 to 64 letters, digits, '.', '_',
// '-' (it is stored in the owner column, whose fields '|' separates).
func frontendID(v any) string {
	id := v.(string)
	if len(id) > 64 {
		return "must be at most 64 characters"
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "only letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}

// lease: at least 1 s; at most a day (a dead frontend's jobs would hold
// their hosts' capacity that long).
func lease(v any) string {
	if n := v.(int); n < 1 || n > 86400 {
		return "must be 1 to 86400 seconds"
	}
	return ""
}

// libpqNames reports whether libpq's environment (PGSERVICE, a service
// file's entry, or the variable named) supplies a connection setting that
// rffmpeg's own key leaves unset: PostgreSQL's standard settings then
// apply (see setup.Store).
func libpqNames(env Env, variable string) bool {
	for _, v := range []string{variable, "PGSERVICE"} {
		if s, ok := env(v); ok && s != "" {
			return true
		}
	}
	return false
}
