package isolation

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestCapabilities(t *testing.T) {
	got, err := Capabilities([]string{"net_raw", "CAP_SYS_TIME"}, []string{"chown", "KILL"})
	must(t, err)
	set := strings.Join(got, ",")
	for _, want := range []string{"CAP_NET_RAW", "CAP_SYS_TIME", "CAP_SETUID"} {
		if !strings.Contains(set, want) {
			t.Errorf("missing %s in %s", want, set)
		}
	}
	for _, not := range []string{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"} {
		if strings.Contains(set, not) {
			t.Errorf("unexpected %s in %s", not, set)
		}
	}
	got, err = Capabilities([]string{"chown"}, []string{"all"})
	must(t, err)
	if !reflect.DeepEqual(got, []string{"CAP_CHOWN"}) {
		t.Errorf("drop all + add chown: %v", got)
	}
	got, err = Capabilities([]string{"ALL"}, nil)
	must(t, err)
	if len(got) != len(knownCapabilities) {
		t.Errorf("add all: %d caps", len(got))
	}
	if _, err := Capabilities([]string{"cap_bogus"}, nil); err == nil {
		t.Error("unknown capability accepted")
	}
	for i := 1; i < len(knownCapabilities); i++ {
		if knownCapabilities[i-1] >= knownCapabilities[i] {
			t.Fatalf("knownCapabilities not sorted at %s", knownCapabilities[i])
		}
	}
}

func TestContainerID(t *testing.T) {
	if got := ContainerID("abc-1.2_x"); got != "abc-1.2_x" {
		t.Errorf("clean id changed: %s", got)
	}
	a, b := ContainerID("alloc/web"), ContainerID("alloc_web")
	if a == b || strings.ContainsAny(a, "/ ") {
		t.Errorf("sanitized ids collide or keep bad chars: %s %s", a, b)
	}
	if ContainerID("..") == ".." || ContainerID("") == "" {
		t.Error("reserved ids must be rewritten")
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "9": syscall.SIGKILL, "sigusr1": syscall.SIGUSR1} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("%q: got %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "SIGNOPE", "0", "99"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEnvListAddsPath(t *testing.T) {
	got := EnvList(map[string]string{"B": "2", "A": "1"})
	if !reflect.DeepEqual(got[:2], []string{"A=1", "B=2"}) || !strings.HasPrefix(got[2], "PATH=") {
		t.Errorf("EnvList: %v", got)
	}
	got = EnvList(map[string]string{"PATH": "/x"})
	if !reflect.DeepEqual(got, []string{"PATH=/x"}) {
		t.Errorf("EnvList kept PATH: %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
