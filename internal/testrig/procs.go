package testrig

import (
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Descendants lists the processes of account name that descend from pid
// (e.g. what an sshd runs for its logins), lowest pid first.
func Descendants(pid int, name string) ([]int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	parent := map[int]int{}
	owner := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, _ := strconv.Atoi(filepath.Base(d))
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The command name in field 2 may hold spaces and parentheses:
		// the fields after its last ')' are fixed.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		parent[p], _ = strconv.Atoi(f[1])
		var st syscall.Stat_t
		if syscall.Stat(d, &st) == nil {
			owner[p] = int(st.Uid)
		}
	}
	var out []int
	for p := range parent {
		if owner[p] != uid {
			continue
		}
		for a, hops := parent[p], 0; a > 1 && hops < 64; a, hops = parent[a], hops+1 {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
