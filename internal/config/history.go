package config

// History bounds the job history (`rffmpeg history`, the metrics): a job
// is kept for RetentionDays days, and only the newest MaxRows jobs.
type History struct {
	RetentionDays int
	MaxRows       int
}

// Defaults of the history keys (the same as state.DefaultRetention).
const (
	DefaultHistoryRetentionDays = 30
	DefaultHistoryMaxRows       = 20000
)

// historyFields are the history section's keys.
func (c *Config) historyFields() []field {
	return []field{
		{key: "history.retention_days", kind: kInt, ptr: &c.History.RetentionDays, def: DefaultHistoryRetentionDays, check: positive},
		{key: "history.max_rows", kind: kInt, ptr: &c.History.MaxRows, def: DefaultHistoryMaxRows, check: positive},
	}
}
