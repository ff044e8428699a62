package main

import (
	"errors"
	"fmt"
	"strings"
)

// opt is one option of a command: -s/--long, with or without a value.
type opt struct {
	short, long string
	value       bool
}

var errHelp = errors.New("help requested")

// usageError is a mistake in the command line: print usage, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parseOpts reads options anywhere among the arguments (as Click does), or
// only before the first positional argument when stopAtPositional is set
// (`run CMD ARGS…` passes the rest through untouched). "--" ends options.
func parseOpts(args []string, specs []opt, stopAtPositional bool) (map[string]string, []string, error) {
	opts := map[string]string{}
	var pos []string
	find := func(name string, long bool) *opt {
		for i := range specs {
			if long && specs[i].long == name || !long && specs[i].short == name {
				return &specs[i]
			}
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(pos, args[i+1:]...), nil
		case a == "-h" || a == "--help":
			return nil, nil, errHelp
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := find(name, true)
			if o == nil {
				return nil, nil, usagef("no such option: --%s", name)
			}
			if o.value {
				if !hasVal {
					if i+1 >= len(args) {
						return nil, nil, usagef("option --%s requires a value", name)
					}
					i++
					val = args[i]
				}
				opts[o.long] = val
			} else {
				if hasVal {
					return nil, nil, usagef("option --%s takes no value", name)
				}
				opts[o.long] = "true"
			}
		case strings.HasPrefix(a, "-") && len(a) > 1 && !isNumber(a):
			o := find(a[1:2], false)
			if o == nil {
				return nil, nil, usagef("no such option: %s", a[:2])
			}
			if o.value {
				val := a[2:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, nil, usagef("option -%s requires a value", o.short)
					}
					i++
					val = args[i]
				}
				opts[o.long] = val
			} else {
				if len(a) > 2 {
					return nil, nil, usagef("option -%s takes no value", o.short)
				}
				opts[o.long] = "true"
			}
		default:
			pos = append(pos, a)
			if stopAtPositional {
				return opts, append(pos, args[i+1:]...), nil
			}
		}
	}
	return opts, pos, nil
}

// isNumber lets "-3" through as a value ("weight HOST -3" is a bad weight,
// not an unknown option).
func isNumber(s string) bool {
	if len(s) < 2 {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
