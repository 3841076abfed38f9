package rawexec

import (
	"os"
	"syscall"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 98765 1000000 42 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != 1234 || st.State != 'S' || st.Ppid != 1 || st.Pgrp != 1234 || st.UTime != 7 || st.STime != 3 || st.StartTicks != 98765 || st.RSSPages != 42 {
		t.Fatalf("parsed %+v", st)
	}
	for _, bad := range []string{"", "12 (x", "12 (x) S 1 2", "x (y) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parsed bad line %q", bad)
		}
	}
	self, err := readProcStat(os.Getpid())
	if err != nil || self.StartTicks == 0 {
		t.Fatalf("own stat: %+v %v", self, err)
	}
}

func TestParseSignal(t *testing.T) {
	cases := map[string]syscall.Signal{"": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "int": syscall.SIGINT, "sigkill": syscall.SIGKILL, "9": syscall.SIGKILL, "SIGHUP": syscall.SIGHUP}
	for in, want := range cases {
		got, err := ParseSignal(in, syscall.SIGTERM)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"SIGNOPE", "0", "99", "-1"} {
		if _, err := ParseSignal(bad, syscall.SIGTERM); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
}
