package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// flag is one option of a verb: -s/--long, bound to a field of the verb's
// options struct.
type flag struct {
	short, long string
	value       string // the value's name in help ("N"); "" for a switch
	help        string
	def         string // the default as help shows it ("" when none worth saying); the field itself is set by the constructor
	on          *bool  // a switch sets this
	set         func(string) error
}

func boolFlag(short, long string, p *bool, help string) flag {
	return flag{short: short, long: long, on: p, help: help}
}

func stringFlag(short, long, value string, p *string, def, help string) flag {
	return flag{short: short, long: long, value: value, help: help, def: def,
		set: func(s string) error { *p = s; return nil }}
}

func intFlag(short, long, value string, p *int, def int, what, help string) flag {
	*p = def
	return flag{short: short, long: long, value: value, help: help, def: strconv.Itoa(def),
		set: func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return usagef("%s %q is not a whole number", what, s)
			}
			*p = n
			return nil
		}}
}

// names is "-s, --long" as help shows it.
func (f flag) names() string {
	s := "    --" + f.long
	if f.short != "" {
		s = "-" + f.short + ", --" + f.long
	}
	if f.value != "" {
		s += " " + f.value
	}
	return s
}

func (f flag) apply(val string) error {
	if f.on != nil {
		*f.on = true
		return nil
	}
	return f.set(val)
}

// parse reads options anywhere among the arguments (as the original's Click
// does), or only before the first positional argument when stopAtPositional
// is set (`run CMD ARGS…` passes the rest through untouched). "--" ends
// options. It fills the options struct the flags point into and returns the
// positional arguments.
func parse(args []string, flags []flag, stopAtPositional bool) ([]string, error) {
	var pos []string
	find := func(name string, long bool) *flag {
		for i := range flags {
			if long && flags[i].long == name || !long && flags[i].short != "" && flags[i].short == name {
				return &flags[i]
			}
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(pos, args[i+1:]...), nil
		case a == "-h" || a == "--help":
			return nil, errHelp
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			f := find(name, true)
			if f == nil {
				return nil, usagef("no such option: --%s", name)
			}
			switch {
			case f.on != nil && hasVal:
				return nil, usagef("option --%s takes no value", name)
			case f.on == nil && !hasVal:
				if i+1 >= len(args) {
					return nil, usagef("option --%s requires a value", name)
				}
				i++
				val = args[i]
			}
			if err := f.apply(val); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1 && !isNumber(a):
			f := find(a[1:2], false)
			if f == nil {
				return nil, usagef("no such option: %s", a[:2])
			}
			val := a[2:]
			switch {
			case f.on != nil && val != "":
				return nil, usagef("option -%s takes no value", f.short)
			case f.on == nil && val == "":
				if i+1 >= len(args) {
					return nil, usagef("option -%s requires a value", f.short)
				}
				i++
				val = args[i]
			}
			if err := f.apply(val); err != nil {
				return nil, err
			}
		default:
			pos = append(pos, a)
			if stopAtPositional {
				return append(pos, args[i+1:]...), nil
			}
		}
	}
	return pos, nil
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

// writeFlags prints the options table of a verb's help: every flag with its
// long form, what it does and its default.
func writeFlags(w io.Writer, flags []flag) {
	all := append(append([]flag{}, flags...), flag{short: "h", long: "help", on: new(bool), help: "show this help and exit"})
	width := 0
	for _, f := range all {
		width = max(width, len(f.names()))
	}
	fmt.Fprintln(w, "\nOptions:")
	for _, f := range all {
		help := f.help
		if f.def != "" {
			help += " (default " + f.def + ")"
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, f.names(), help)
	}
}
