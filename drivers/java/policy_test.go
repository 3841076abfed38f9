package java

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec"
	"github.com/orch-project/orch/drivers/identity"
)

// The user check comes before anything else the start needs (even a JVM),
// so a denied user is refused the same way on every node.
func TestStartRefusesDeniedUser(t *testing.T) {
	cases := []struct {
		policy exec.HostPolicy
		user   string
	}{
		{exec.HostPolicy{}, "root"},
		{exec.HostPolicy{}, "0"},
		{exec.HostPolicy{}, "65534:0"},
		{exec.HostPolicy{Identity: identity.Policy{Driver: Name, Checked: true, DenyUsers: []string{"nobody"}}}, ""},
	}
	for _, c := range cases {
		d := New(Config{StateRoot: filepath.Join(t.TempDir(), "state"), Policy: c.policy})
		cfg := &drivers.TaskConfig{ID: "a/web", Name: "web", User: c.user, TaskDir: t.TempDir(),
			Config: map[string]any{"class": "Main"}}
		_, err := d.Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "is denied by the client's") {
			t.Fatalf("user %q with %+v: Start = %v", c.user, c.policy, err)
		}
		if !drivers.IsNonRecoverable(err) {
			t.Fatalf("user %q: refusal %v is recoverable", c.user, err)
		}
		if d.tasks.Has(cfg.ID) {
			t.Fatal("refused task registered")
		}
	}
}
