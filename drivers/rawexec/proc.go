package rawexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. It is 100 on
// every Linux ABI Go supports, and reading it needs sysconf (cgo).
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat the driver uses.
type procStat struct {
	Pid        int
	State      byte
	Ppid       int
	Pgrp       int
	UTime      uint64 // clock ticks
	STime      uint64 // clock ticks
	StartTicks uint64 // clock ticks after boot: with the pid, a process's identity
	RSSPages   int64
}

var errNoProcess = errors.New("no such process")

func readProcStat(pid int) (*procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errNoProcess
		}
		return nil, fmt.Errorf("reading stat of pid %d: %w", pid, err)
	}
	return parseProcStat(b)
}

// parseProcStat parses a stat line. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (*procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open || end+2 > len(b) {
		return nil, fmt.Errorf("malformed /proc stat line")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return nil, fmt.Errorf("malformed pid in stat line: %w", err)
	}
	f := strings.Fields(string(b[end+2:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 22 {
		return nil, fmt.Errorf("stat line has %d fields, want at least 24", len(f)+2)
	}
	num := func(n int) (uint64, error) {
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat field %d: %w", n, err)
		}
		return v, nil
	}
	st := &procStat{Pid: pid, State: f[0][0]}
	var vals [5]uint64
	for i, n := range []int{4, 5, 14, 15, 22} {
		if vals[i], err = num(n); err != nil {
			return nil, err
		}
	}
	st.Ppid, st.Pgrp = int(vals[0]), int(vals[1])
	st.UTime, st.STime, st.StartTicks = vals[2], vals[3], vals[4]
	rss, err := strconv.ParseInt(f[24-3], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("stat field 24: %w", err)
	}
	st.RSSPages = rss
	return st, nil
}

// bootID identifies the current boot: a pid and start time are only
// meaningful within one.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// groupMembers lists the live processes of process group pgid. It scans
// /proc, which is only done for on-demand stats.
func groupMembers(pgid int) ([]*procStat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing /proc: %w", err)
	}
	var out []*procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.Pgrp != pgid || st.State == 'Z' {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// StartTicks returns when pid started, in clock ticks after boot: with the
// pid and BootID it identifies a process across pid reuse. Other drivers
// that re-attach by pid use it.
func StartTicks(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.StartTicks, nil
}

// SameProcess reports whether pid is alive (not a zombie) and started at
// startTicks.
func SameProcess(pid int, startTicks uint64) bool { return sameProcess(pid, startTicks) }

// BootID identifies the running boot ("" when unknown).
func BootID() string { return bootID() }
