package docker

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/orch-project/orch/internal/testimage"
	"github.com/orch-project/orch/structs"
)

// pullFrom returns an image reference on reg unique to this test run and
// removes the pulled image when the test ends.
func pullFrom(t *testing.T, d *Driver, reg *testimage.Registry, repo string) string {
	t.Helper()
	ref := reg.Addr + "/orch-test/" + repo + "-" + structs.GenerateUUID()[:8] + ":1"
	t.Cleanup(func() {
		_, _ = d.client.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// auth_soft_fail: credentials the registry refuses fail the pull, unless
// auth_soft_fail is set, in which case the pull is retried anonymously.
func TestAuthSoftFail(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	reg, err := testimage.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	reg.User, reg.Password = "orch", "right"
	wrong := []any{map[string]any{"username": "orch", "password": "wrong", "server_address": reg.Addr}}

	hard := newTestTask(t, map[string]any{"image": pullFrom(t, d, reg, "hard"), "command": "true", "auth": wrong})
	if _, err := d.Start(context.Background(), hard.TaskConfig); err == nil || !isAuthFailure(err) {
		t.Fatalf("refused credentials without auth_soft_fail: %v", err)
	}
	if reg.AnonPulls.Load() != 0 {
		t.Fatalf("pulled anonymously without auth_soft_fail")
	}

	soft := newTestTask(t, map[string]any{"image": pullFrom(t, d, reg, "soft"), "command": "echo", "args": []any{"pulled"},
		"auth": wrong, "auth_soft_fail": true})
	startTask(t, d, soft)
	soft.stdout.waitContains(t, "pulled", 60*time.Second)
	if reg.AnonPulls.Load() == 0 {
		t.Fatalf("auth_soft_fail did not retry anonymously")
	}
}

// image_pull_timeout bounds a pull from a registry that never answers.
func TestImagePullTimeout(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	tt := newTestTask(t, map[string]any{"image": ln.Addr().String() + "/orch-test/silent:1", "command": "true",
		"image_pull_timeout": "2s"})
	start := time.Now()
	_, err = d.Start(context.Background(), tt.TaskConfig)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out after 2s") {
		t.Fatalf("Start = %v", err)
	}
	if took < 2*time.Second || took > 20*time.Second {
		t.Fatalf("pull gave up after %s, want about 2s", took)
	}
}

// dns_search_domains and dns_options reach the container's resolv.conf.
func TestDNSSearchDomains(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	cfg := busybox("cat", "/etc/resolv.conf")
	cfg["dns_search_domains"] = []any{"a.example", "b.example"}
	cfg["dns_options"] = []any{"ndots:2"}
	tt := newTestTask(t, cfg)
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	tt.stdout.waitContains(t, "search a.example b.example", 10*time.Second)
	tt.stdout.waitContains(t, "options ndots:2", 10*time.Second)
}

// runtime and userns_mode are passed to the daemon; a runtime outside the
// node's allowlist is refused.
func TestRuntimeAndUsernsMode(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	cfg := busybox("sleep", "30")
	cfg["runtime"] = "runc"
	cfg["userns_mode"] = "host"
	tt := newTestTask(t, cfg)
	startTask(t, d, tt)
	st, err := d.Inspect(tt.ID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.Runtime != "runc" || string(info.HostConfig.UsernsMode) != "host" {
		t.Fatalf("runtime %q userns %q", info.HostConfig.Runtime, info.HostConfig.UsernsMode)
	}
	bad := busybox("true")
	bad["runtime"] = "kata"
	if _, err := d.Start(context.Background(), newTestTask(t, bad).TaskConfig); err == nil || !strings.Contains(err.Error(), `runtime "kata" is not allowed`) {
		t.Fatalf("runtime outside the allowlist: %v", err)
	}
}

// devices maps a host device into the container, when the node allows it.
func TestDevices(t *testing.T) {
	t.Parallel()
	cfg := busybox("sh", "-c", "echo x > /dev/orch-null && ls /dev/orch-null")
	cfg["devices"] = []any{map[string]any{"host_path": "/dev/null", "container_path": "/dev/orch-null"}}

	off := newTestDriver(t)
	if _, err := off.Start(context.Background(), newTestTask(t, cfg).TaskConfig); err == nil || !strings.Contains(err.Error(), OptionDevicesEnabled) {
		t.Fatalf("devices on a node that does not allow them: %v", err)
	}

	d := newTestDriver(t, func(c *Config) { c.DevicesEnabled = true })
	tt := newTestTask(t, cfg)
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit %+v; stderr %q", res, tt.stderr.String())
	}
	tt.stdout.waitContains(t, "/dev/orch-null", 10*time.Second)
}

// shm_size, init, readonly_rootfs, sysctl, ulimit and memory_hard_limit
// take effect inside the container.
func TestContainerOptions(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	cfg := busybox("sh", "-c", `echo "pid1=$(cat /proc/1/comm)"
echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
echo "nofile=$(ulimit -n)"
while read dev mnt fs opts rest; do [ "$mnt" = /dev/shm ] && echo "shm $opts"; done < /proc/mounts
if echo x > /probe 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi`)
	cfg["shm_size"] = 8 << 20
	cfg["init"] = true
	cfg["readonly_rootfs"] = true
	cfg["sysctl"] = map[string]any{"net.core.somaxconn": "512"}
	cfg["ulimit"] = map[string]any{"nofile": "2048:4096"}
	cfg["memory_hard_limit"] = 128
	tt := newTestTask(t, cfg)
	startTask(t, d, tt)
	res := waitExit(t, d, tt.ID, 30*time.Second)
	if !res.Successful() {
		t.Fatalf("exit %+v; stderr %q", res, tt.stderr.String())
	}
	for _, want := range []string{"pid1=docker-init", "somaxconn=512", "nofile=2048", "rootfs=ro", "size=8192k"} {
		tt.stdout.waitContains(t, want, 10*time.Second)
	}
	st, err := d.Inspect(tt.ID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.Memory != 128<<20 || info.HostConfig.MemoryReservation != 64<<20 {
		t.Fatalf("memory %d reservation %d", info.HostConfig.Memory, info.HostConfig.MemoryReservation)
	}
}
