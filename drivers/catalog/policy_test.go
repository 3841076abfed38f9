package catalog

import (
	"context"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers"
)

// The host-access options reach the drivers: each start below is refused
// by a check that runs before any daemon, JVM or container is involved.
func TestHostAccessOptionsReachDrivers(t *testing.T) {
	ds := New(Config{DataDir: t.TempDir(), Options: map[string]string{"user.denylist": "nobody"}})
	for _, name := range []string{"exec", "java"} {
		cfg := &drivers.TaskConfig{ID: "a/" + name, Name: name, TaskDir: t.TempDir(), Config: map[string]any{"command": "/bin/true"}}
		if name == "java" {
			cfg.Config = map[string]any{"class": "Main"}
		}
		_, err := ds[name].Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), `uid 65534 is denied by the client's user.denylist`) {
			t.Fatalf("%s: Start = %v", name, err)
		}
	}
	cfg := &drivers.TaskConfig{ID: "a/exec2", Name: "exec2", TaskDir: t.TempDir(), User: "1000:1000",
		Config: map[string]any{"command": "/bin/true", "cap_add": []any{"sys_admin"}}}
	if _, err := ds["exec"].Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "exec.caps.allowlist") {
		t.Fatalf("exec cap_add sys_admin: Start = %v", err)
	}

	// The per-driver plugin options and the group denylist reach them too.
	ds = New(Config{DataDir: t.TempDir(), Options: map[string]string{"exec.denied_host_uids": "1000-2000",
		"java.denied_host_gids": "4321", "raw_exec.denied_host_uids": "0", "driver.raw_exec.enable": "1"}})
	for name, tc := range map[string]struct{ user, want string }{
		"exec":     {"1500:1500", "uid 1500 is denied by the client's plugin \"exec\" option denied_host_uids"},
		"java":     {"1234:4321", "gid 4321 is denied by the client's plugin \"java\" option denied_host_gids"},
		"raw_exec": {"root", "uid 0 is denied by the client's plugin \"raw_exec\" option denied_host_uids"},
	} {
		cfg := &drivers.TaskConfig{ID: "a/" + name, Name: name, TaskDir: t.TempDir(), User: tc.user,
			Config: map[string]any{"command": "/bin/true"}}
		if name == "java" {
			cfg.Config = map[string]any{"class": "Main"}
		}
		_, err := ds[name].Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !drivers.IsNonRecoverable(err) {
			t.Fatalf("%s: Start = %v, want a non-recoverable %q", name, err, tc.want)
		}
	}

	ds = New(Config{DataDir: t.TempDir(), Options: map[string]string{"docker.caps.allowlist": "chown"}})
	for key, v := range map[string]any{"cap_add": []any{"net_raw"}, "volumes": []any{"/:/host"}} {
		cfg := &drivers.TaskConfig{ID: "a/d", Name: "d", TaskDir: t.TempDir(), Config: map[string]any{"image": "busybox", key: v}}
		_, err := ds["docker"].Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "docker.") {
			t.Fatalf("docker %s: Start = %v", key, err)
		}
	}
}

func TestMalformedHostAccessOptionDisablesDriver(t *testing.T) {
	ds := New(Config{DataDir: t.TempDir(), Options: map[string]string{
		"exec.caps.allowlist": "chown,bogus", "docker.volumes.enabled": "perhaps"}})
	for _, name := range []string{"exec", "java", "docker"} {
		if _, ok := ds[name]; ok {
			t.Errorf("%s built despite a malformed option", name)
		}
	}
	if _, ok := ds["raw_exec"]; !ok {
		t.Error("raw_exec left out")
	}
}
