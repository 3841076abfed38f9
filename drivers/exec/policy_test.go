package exec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

func TestStartRefusesDeniedUserAndCaps(t *testing.T) {
	d := newDriver(t)
	cases := []struct {
		name, user string
		capAdd     []any
		want       string
	}{
		{"root", "root", nil, `task user "root" runs as uid 0 (root), gid 0: uid 0 is denied by the client's user.denylist`},
		{"uid 0", "0:0", nil, `uid 0 is denied by the client's user.denylist`},
		{"gid 0", "65534:0", nil, `gid 0 is denied by the client's group.denylist`},
		// Issue 8's attack 2: a uid past uint32 used to wrap to 0.
		{"uid overflow", "4294967296", nil, `id "4294967296" is out of range`},
		{"negative uid", "-1", nil, `invalid user "-1"`},
		{"junk", "no such user", nil, `invalid user`},
		{"sys_admin", "", []any{"SYS_ADMIN"}, "cap_add CAP_SYS_ADMIN not allowed by the client's exec.caps.allowlist"},
		{"all", "", []any{"all"}, "cap_add ALL not allowed"},
	}
	for _, c := range cases {
		tt := newTask(t, "/bin/true")
		tt.cfg.User = c.user
		if c.capAdd != nil {
			tt.cfg.Config["cap_add"] = c.capAdd
		}
		_, err := d.Start(context.Background(), tt.cfg)
		if err == nil {
			_ = d.Destroy(tt.cfg.ID, true)
			t.Fatalf("%s: started", c.name)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %v, want %q", c.name, err, c.want)
		}
		// A refusal is final: the task fails at once instead of being
		// retried by its restart policy forever.
		if !drivers.IsNonRecoverable(err) {
			t.Fatalf("%s: refusal %v is recoverable", c.name, err)
		}
		if d.tasks.Has(tt.cfg.ID) {
			t.Fatalf("%s: refused task registered", c.name)
		}
	}
	// Nothing reached libcontainer: no container state was written.
	if ents, _ := os.ReadDir(d.cfg.StateRoot); len(ents) != 0 {
		t.Fatalf("state root has %d entries after refused starts", len(ents))
	}
}

func TestStartWithinPolicy(t *testing.T) {
	requireIsolation(t)
	// Default policy: nobody with a capability from the default allowlist.
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "id -u")
	tt.cfg.Config["cap_add"] = []any{"net_raw"}
	start(t, d, tt)
	if res := wait(t, d, tt.cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	if got := tt.stdout.waitFor(t, "\n"); strings.TrimSpace(got) != "65534" {
		t.Fatalf("uid %q, want nobody's", got)
	}

	// An operator who empties the denylist and allows everything gets root
	// with SYS_ADMIN.
	open := New(Config{StateRoot: filepath.Join(t.TempDir(), "state"),
		Policy: HostPolicy{Identity: identity.Policy{Driver: Name}, CapAllowlist: []string{"ALL"}}})
	tt = newTask(t, "/bin/sh", "-c", "id -u; grep CapEff /proc/self/status")
	tt.cfg.User = "root"
	tt.cfg.Config["cap_add"] = []any{"sys_admin"}
	start(t, open, tt)
	if res := wait(t, open, tt.cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	if got := tt.stdout.waitFor(t, "CapEff"); !strings.HasPrefix(got, "0\n") {
		t.Fatalf("stdout %q, want uid 0", got)
	}
}

func TestPolicyFromOptions(t *testing.T) {
	p, err := PolicyFromOptions(Name, nil)
	if err != nil || !p.Identity.Checked || strings.Join(p.Identity.DenyUsers, ",") != "root" ||
		strings.Join(p.Identity.DenyGroups, ",") != "root" || p.CapAllowlist != nil {
		t.Fatalf("defaults = %+v, %v", p, err)
	}
	p, err = PolicyFromOptions(Name, map[string]string{"user.denylist": "root, admin", OptionCapAllowlist: "chown,net_admin",
		"exec.denied_host_uids": "0-999"})
	if err != nil || strings.Join(p.Identity.DenyUsers, ",") != "root,admin" || strings.Join(p.CapAllowlist, ",") != "CAP_CHOWN,CAP_NET_ADMIN" ||
		len(p.Identity.DeniedUIDs) != 1 {
		t.Fatalf("PolicyFromOptions = %+v, %v", p, err)
	}
	if _, err := PolicyFromOptions(Name, map[string]string{OptionCapAllowlist: "chown,bogus"}); err == nil {
		t.Fatal("unknown capability accepted")
	}
	if _, err := PolicyFromOptions(Name, map[string]string{"exec.denied_host_uids": "x"}); err == nil {
		t.Fatal("bad denied_host_uids accepted")
	}
	// A zero policy given to New is the default one.
	if d := New(Config{}); !d.cfg.Policy.Identity.Checked {
		t.Fatal("New with a zero policy is open")
	}
}
