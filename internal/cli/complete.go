package cli

import (
	"fmt"
	"io"
	"strings"
)

// Shells WriteCompletion writes for.
var Shells = []string{"bash", "zsh", "fish"}

// WriteCompletion writes the completion script for shell ("bash", "zsh" or
// "fish") from the command table the CLI parses with: every verb with its
// help line, every option of each verb (long and short form, whether it
// takes a value), directories after --path, and command names then files
// after `run` (whose arguments belong to the command it runs).
func WriteCompletion(w io.Writer, shell string) error {
	var s string
	switch shell {
	case "bash":
		s = bashCompletion(commands())
	case "zsh":
		s = zshCompletion(commands())
	case "fish":
		s = fishCompletion(commands())
	default:
		return fmt.Errorf("completion: unknown shell %q (want bash, zsh or fish)", shell)
	}
	_, err := io.WriteString(w, s)
	return err
}

const generated = "generated from rffmpeg's command table; do not edit"

// completesDirs is a value that names a directory (doctor --path DIR).
func (f flag) completesDirs() bool { return f.value == "DIR" }

// withHelp is a verb's options plus the -h/--help every verb takes.
func withHelp(flags []flag) []flag {
	return append(append([]flag{}, flags...), flag{short: "h", long: "help", on: new(bool), help: "show this help and exit"})
}

func bashCompletion(cmds []command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for rffmpeg, %s.\n", generated)
	b.WriteString("_rffmpeg() {\n")
	b.WriteString("    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opts i\n")
	b.WriteString("    if [[ $COMP_CWORD -eq 1 ]]; then\n")
	var verbs []string
	for _, c := range cmds {
		verbs = append(verbs, c.name)
	}
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W '%s -h --help -V --version' -- \"$cur\"))\n", strings.Join(verbs, " "))
	b.WriteString("        return\n    fi\n")
	b.WriteString("    case ${COMP_WORDS[1]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if c.stopAtPositional {
			bashPassThrough(&b, c.flags)
		}
		var words, values, dirs []string
		for _, f := range withHelp(c.flags) {
			words = append(words, "--"+f.long)
			names := []string{"--" + f.long}
			if f.short != "" {
				words = append(words, "-"+f.short)
				names = append(names, "-"+f.short)
			}
			switch {
			case f.on != nil:
			case f.completesDirs():
				dirs = append(dirs, names...)
			default:
				values = append(values, names...)
			}
		}
		if len(dirs) > 0 {
			fmt.Fprintf(&b, "        case $prev in %s) COMPREPLY=($(compgen -d -- \"$cur\")); return ;; esac\n", strings.Join(dirs, "|"))
		}
		if len(values) > 0 {
			fmt.Fprintf(&b, "        case $prev in %s) return ;; esac\n", strings.Join(values, "|"))
		}
		fmt.Fprintf(&b, "        opts='%s' ;;\n", strings.Join(words, " "))
	}
	b.WriteString("    *) return ;;\n    esac\n")
	b.WriteString("    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); fi\n")
	b.WriteString("}\ncomplete -F _rffmpeg rffmpeg\n")
	return b.String()
}

// bashPassThrough completes `run`: after its options, the first word is a
// command name and every word after it is the command's own (files).
func bashPassThrough(b *strings.Builder, flags []flag) {
	var values []string
	for _, f := range flags {
		if f.on == nil {
			values = append(values, "--"+f.long)
		}
	}
	b.WriteString("        for ((i = 2; i < COMP_CWORD; i++)); do\n")
	if len(values) > 0 {
		fmt.Fprintf(b, "            case ${COMP_WORDS[i]} in %s) ((i++)); continue ;; esac\n", strings.Join(values, "|"))
	}
	b.WriteString("            if [[ ${COMP_WORDS[i]} != -* ]]; then compopt -o default 2>/dev/null; COMPREPLY=(); return; fi\n")
	b.WriteString("        done\n")
	b.WriteString("        if [[ $cur != -* ]]; then COMPREPLY=($(compgen -c -- \"$cur\")); return; fi\n")
}

func zshCompletion(cmds []command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef rffmpeg\n# zsh completion for rffmpeg, %s.\n\n", generated)
	b.WriteString("_rffmpeg() {\n")
	b.WriteString("  local -a verbs\n  verbs=(\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s\n", shQuote(c.name+":"+strings.ReplaceAll(c.short, ":", `\:`)))
	}
	b.WriteString("  )\n")
	b.WriteString("  if (( CURRENT == 2 )); then\n")
	b.WriteString("    if [[ $PREFIX == -* ]]; then\n")
	b.WriteString("      local -a opts\n")
	b.WriteString("      opts=('-h:show the usage' '--help:show the usage' '-V:show the version' '--version:show the version')\n")
	b.WriteString("      _describe -t options 'rffmpeg option' opts\n")
	b.WriteString("    else\n")
	b.WriteString("      _describe -t commands 'rffmpeg command' verbs\n")
	b.WriteString("    fi\n")
	b.WriteString("    return\n  fi\n")
	b.WriteString("  local verb=${words[2]}\n  shift words\n  (( CURRENT-- ))\n")
	b.WriteString("  case $verb in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  (%s)\n    _arguments", c.name)
		for _, spec := range zshSpecs(c) {
			fmt.Fprintf(&b, " \\\n      %s", shQuote(spec))
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString("  esac\n}\n\n_rffmpeg \"$@\"\n")
	return b.String()
}

// zshSpecs are a verb's _arguments specs: each option in both forms
// (excluding each other), then its positional arguments.
func zshSpecs(c command) []string {
	var specs []string
	for _, f := range withHelp(c.flags) {
		desc := "[" + zshEscape(f.help) + "]"
		action := ""
		switch {
		case f.on != nil:
		case f.completesDirs():
			action = ":" + f.value + ":_files -/"
		default:
			action = ":" + f.value + ": "
		}
		exclude, repeat := "", ""
		if f.completesDirs() {
			repeat = "*" // doctor --path DIR may be given several times
		} else if f.short != "" {
			exclude = "(-" + f.short + " --" + f.long + ")"
		}
		long := "--" + f.long
		if f.on == nil {
			long += "="
		}
		specs = append(specs, exclude+repeat+long+desc+action)
		if f.short != "" {
			short := "-" + f.short
			if f.on == nil {
				short += "+"
			}
			specs = append(specs, exclude+repeat+short+desc+action)
		}
	}
	switch {
	case c.stopAtPositional:
		specs = append(specs, ":command:_command_names -e", "*::argument:_files")
	default:
		for _, a := range c.argNames {
			specs = append(specs, ":"+a+": ")
		}
		switch {
		case c.maxArgs < 0:
			specs = append(specs, "*:HOST: ")
		case c.maxArgs > len(c.argNames):
			specs = append(specs, "::HOST: ")
		}
	}
	return specs
}

// zshEscape makes help text safe inside an _arguments description.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
}

func fishCompletion(cmds []command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for rffmpeg, %s.\n", generated)
	b.WriteString("complete -c rffmpeg -f\n")
	b.WriteString("complete -c rffmpeg -n __fish_use_subcommand -s h -l help -d 'show the usage'\n")
	b.WriteString("complete -c rffmpeg -n __fish_use_subcommand -s V -l version -d 'show the version'\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c rffmpeg -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.short))
	}
	for _, c := range cmds {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range withHelp(c.flags) {
			fmt.Fprintf(&b, "complete -c rffmpeg -n %s", cond)
			if f.short != "" {
				fmt.Fprintf(&b, " -s %s", f.short)
			}
			fmt.Fprintf(&b, " -l %s", f.long)
			switch {
			case f.on != nil:
			case f.completesDirs():
				b.WriteString(" -x -a '(__fish_complete_directories)'")
			default:
				b.WriteString(" -x")
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(f.help))
		}
		if c.stopAtPositional {
			// the command to run, then its own arguments (files)
			fmt.Fprintf(&b, "complete -c rffmpeg -n %s -F -a '(__fish_complete_command)'\n", cond)
		}
	}
	return b.String()
}

// shQuote is s in single quotes for sh, bash and zsh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote is s in single quotes for fish (which also escapes backslashes).
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
