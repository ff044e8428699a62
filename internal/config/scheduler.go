package config

// The scheduling section: where jobs go beyond the original's least-busy
// rule (per-host capacity, priority and tags are set on the hosts
// themselves with `rffmpeg set`).
//
//	rffmpeg:
//	  scheduling:
//	    when_full: wait          # fallback | wait | reject
//	    queue_max: 100           # waiters at most; more fall back
//	    queue_timeout: 60        # seconds a call waits, then falls back as configured
//	    rules:                   # CLASS=local | CLASS=tag:TAG | CLASS=host:NAME
//	      - probe=local
//	      - image=local
//	      - transcode=tag:gpu
//	    on_demand: /usr/local/bin/start-cloud-host   # run (JSON on stdin) when no awake host can take a job
//	    on_demand_timeout: 10    # seconds it may run, then it is killed

// Full-pool policies (scheduling.when_full).
const (
	WhenFullFallback = "fallback"
	WhenFullWait     = "wait"
	WhenFullReject   = "reject"
)

// Scheduling is the scheduling section. Rules are checked (syntax, class
// names) by selector.ParseRules where the policy is built.
type Scheduling struct {
	WhenFull     string
	QueueMax     int
	QueueTimeout int
	Rules        []string
	// OnDemand is an executable run when no awake host can take a job
	// ("": none); OnDemandTimeout bounds it, in seconds.
	OnDemand        string
	OnDemandTimeout int
}

func (c *Config) schedulingFields() []field {
	s := &c.Scheduling
	return []field{
		{key: "scheduling.when_full", kind: kString, ptr: &s.WhenFull, def: WhenFullFallback,
			check: oneOf(WhenFullFallback, WhenFullWait, WhenFullReject)},
		{key: "scheduling.queue_max", kind: kInt, ptr: &s.QueueMax, def: 100, check: nonNegative},
		{key: "scheduling.queue_timeout", kind: kInt, ptr: &s.QueueTimeout, def: 60, check: nonNegative},
		{key: "scheduling.rules", kind: kList, ptr: &s.Rules, def: []string{}},
		{key: "scheduling.on_demand", kind: kString, ptr: &s.OnDemand, def: ""},
		{key: "scheduling.on_demand_timeout", kind: kInt, ptr: &s.OnDemandTimeout, def: 10, check: positive},
	}
}
