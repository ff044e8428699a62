package selector

import (
	"fmt"
	"strings"

	"github.com/rffmpeg/rffmpeg/internal/jobclass"
	"github.com/rffmpeg/rffmpeg/internal/state"
)

// FullPolicy says what a job does when every host it may use is full.
type FullPolicy string

const (
	FullFallback FullPolicy = "fallback" // run locally (the default; as if no host were usable)
	FullWait     FullPolicy = "wait"     // queue, FIFO, and try again (bounded by the caller)
	FullReject   FullPolicy = "reject"   // fail at once
)

// ParseFullPolicy reads scheduling.when_full ("" is fallback).
func ParseFullPolicy(s string) (FullPolicy, error) {
	switch FullPolicy(s) {
	case "", FullFallback:
		return FullFallback, nil
	case FullWait, FullReject:
		return FullPolicy(s), nil
	}
	return "", fmt.Errorf("%q: must be fallback, wait or reject", s)
}

// Target is where a class rule sends jobs.
type Target struct {
	Local bool   // this machine, without SSH
	Tag   string // hosts with this tag
	Host  string // the host with this server name (or hostname)
}

func (t Target) String() string {
	switch {
	case t.Local:
		return "local"
	case t.Tag != "":
		return "tag:" + t.Tag
	}
	return "host:" + t.Host
}

// ClassRule sends a class of jobs to a target.
type ClassRule struct {
	Class  jobclass.Class
	Target Target
}

func (r ClassRule) String() string { return string(r.Class) + "=" + r.Target.String() }

// ParseRule reads one scheduling.rules item: CLASS=local, CLASS=tag:TAG or
// CLASS=host:NAME, CLASS one of probe, capability, image, trickplay,
// subtitle, keyframes, transcode.
func ParseRule(s string) (ClassRule, error) {
	class, target, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return ClassRule{}, fmt.Errorf("rule %q: want CLASS=TARGET (e.g. probe=local, transcode=tag:gpu)", s)
	}
	c, ok := jobclass.ParseClass(strings.TrimSpace(class))
	if !ok {
		var names []string
		for _, c := range jobclass.Classes {
			names = append(names, string(c))
		}
		return ClassRule{}, fmt.Errorf("rule %q: unknown class %q (one of %s)", s, class, strings.Join(names, ", "))
	}
	r := ClassRule{Class: c}
	target = strings.TrimSpace(target)
	kind, name, _ := strings.Cut(target, ":")
	switch {
	case target == "local":
		r.Target.Local = true
	case kind == "tag" && name != "":
		if err := state.ValidTag(name); err != nil {
			return ClassRule{}, fmt.Errorf("rule %q: %w", s, err)
		}
		r.Target.Tag = name
	case kind == "host" && name != "":
		r.Target.Host = name
	default:
		return ClassRule{}, fmt.Errorf("rule %q: target %q is not local, tag:TAG or host:NAME", s, target)
	}
	return r, nil
}

// Rules are the configured scheduling: what a full pool does and where
// classes go. The zero value is the original's behaviour.
type Rules struct {
	WhenFull FullPolicy
	// QueueMax bounds the wait queue: a job arriving at a full pool while
	// this many wait is treated as if the policy were fallback. 0: no bound.
	QueueMax int
	Classes  []ClassRule // the first rule naming a job's class applies
}

// ParseRules builds Rules from the configuration's values.
func ParseRules(whenFull string, queueMax int, rules []string) (Rules, error) {
	wf, err := ParseFullPolicy(whenFull)
	if err != nil {
		return Rules{}, err
	}
	r := Rules{WhenFull: wf, QueueMax: queueMax}
	for _, s := range rules {
		cr, err := ParseRule(s)
		if err != nil {
			return Rules{}, err
		}
		r.Classes = append(r.Classes, cr)
	}
	return r, nil
}

func (r Rules) ruleFor(c jobclass.Class) (ClassRule, bool) {
	for _, cr := range r.Classes {
		if cr.Class == c && c != "" {
			return cr, true
		}
	}
	return ClassRule{}, false
}

// matches reports whether host h is one a rule's target allows.
func (t Target) matches(h state.Host) bool {
	switch {
	case t.Tag != "":
		for _, tag := range h.Tags {
			if tag == t.Tag {
				return true
			}
		}
		return false
	case t.Host != "":
		return h.Servername == t.Host || h.Hostname == t.Host
	}
	return true
}
