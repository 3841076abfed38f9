package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// TestIdentityResolvedAgainstTheImage: with a uid/gid policy, names resolve
// against the image's /etc/passwd (the test image lists root and nobody),
// the image's default user (root) is checked too, and the container runs
// exactly the numeric identity that was checked.
func TestIdentityResolvedAgainstTheImage(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t, func(c *Config) {
		c.Policy = identity.Policy{Driver: Name, DeniedUIDs: []identity.Range{{Lo: 0, Hi: 999}}, DeniedGIDs: []identity.Range{{Lo: 0, Hi: 0}}}
	})
	for user, want := range map[string]string{
		"":           "uid 0 is denied by the client's plugin \"docker\" option denied_host_uids",
		"root":       "uid 0 is denied",
		"0":          "uid 0 is denied",
		"65534:0":    "gid 0 is denied by the client's plugin \"docker\" option denied_host_gids",
		"1234":       "gid 0 is denied", // Docker gives an unlisted uid gid 0
		"4294967296": `id "4294967296" is out of range`,
		"ghost":      "unable to find user ghost",
	} {
		tt := newTestTaskConfig(t, busybox("id"))
		tt.User = user
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := d.Start(ctx, tt)
		cancel()
		if err == nil {
			_ = d.Destroy(tt.ID, true)
			t.Fatalf("user %q started", user)
		}
		if !strings.Contains(err.Error(), want) || !drivers.IsNonRecoverable(err) {
			t.Errorf("user %q: %v, want a non-recoverable %q", user, err, want)
		}
	}
	tt := newTestTask(t, busybox("id"))
	tt.User = "nobody"
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	if got := tt.stdout.String(); !strings.HasPrefix(got, "uid=65534") || !strings.Contains(got, "gid=65534") {
		t.Fatalf("id = %q", got)
	}
	// What was checked is pinned on the container.
	st, _ := d.Inspect(tt.ID)
	info, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if err != nil || info.Config.User != "65534:65534" {
		t.Fatalf("container user %q, %v", info.Config.User, err)
	}
}

// TestNoPolicyLeavesUserToDocker: without a policy nothing is read from the
// image and the task's user goes to Docker as written.
func TestNoPolicyLeavesUserToDocker(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("id", "-u"))
	tt.User = "nobody"
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	if got := strings.TrimSpace(tt.stdout.String()); got != "65534" {
		t.Fatalf("uid %q", got)
	}
	st, _ := d.Inspect(tt.ID)
	info, _ := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if info.Config.User != "nobody" {
		t.Fatalf("container user %q", info.Config.User)
	}
	// A malformed user is refused even without a policy.
	bad := newTestTaskConfig(t, busybox("id"))
	bad.User = "4294967296"
	if _, err := d.Start(context.Background(), bad); err == nil || !drivers.IsNonRecoverable(err) {
		t.Fatalf("uid overflow: %v", err)
	}
}
