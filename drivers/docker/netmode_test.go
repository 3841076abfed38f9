package docker

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/testimage"
	"github.com/orch-project/orch/structs"
)

// TestDockerNetworkModeStaysInItsAllocation: network_mode
// "container:<name>" joins only a container of the task's own allocation.
// Another allocation's sandbox (orch_init_<alloc>, which holds its bridge
// namespace) or task container is refused: joining it would reach the
// victim's loopback-only services, bind its ports and sniff its traffic.
func TestDockerNetworkModeStaysInItsAllocation(t *testing.T) {
	d := newTestDriver(t, func(c *Config) { c.InfraImage = testimage.Pause })
	ctx := t.Context()
	if err := testimage.EnsurePause(ctx, d.client); err != nil {
		t.Fatal(err)
	}
	victim := structs.GenerateUUID()
	nsPath, _, err := d.CreateNetwork(ctx, victim, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DestroyNetwork(ctx, victim) })
	victimNS, err := os.Readlink(nsPath)
	if err != nil {
		t.Fatal(err)
	}

	owner := newTestTask(t, busybox("sleep", "30"))
	startTask(t, d, owner)
	t.Cleanup(func() { _ = d.Destroy(owner.ID, true) })

	for _, target := range []string{sandboxName(victim), containerName(owner.TaskConfig)} {
		cfg := busybox("sh", "-c", "ls -l /proc/self/ns/net; sleep 1")
		cfg["network_mode"] = "container:" + target
		tt := newTestTask(t, cfg)
		_, err := d.Start(ctx, tt.TaskConfig)
		if err == nil {
			t.Cleanup(func() { _ = d.Destroy(tt.ID, true) })
			tt.stdout.waitContains(t, "net:", 10*time.Second)
			t.Fatalf("network_mode container:%s of another allocation started: %s (the victim sandbox's namespace is %s)", target, tt.stdout.String(), victimNS)
		}
		if !drivers.IsNonRecoverable(err) || !strings.Contains(err.Error(), "network_mode") {
			t.Fatalf("network_mode container:%s: %v, want a non-recoverable refusal naming network_mode", target, err)
		}
	}

	// A sibling task of the same allocation may be joined.
	cfg := busybox("sh", "-c", "echo joined")
	cfg["network_mode"] = "container:" + containerName(owner.TaskConfig)
	sib := newTestTask(t, cfg)
	sib.AllocID = owner.AllocID
	sib.ID = owner.AllocID + "/side" + strconv.Itoa(os.Getpid())
	sib.Name = "side"
	startTask(t, d, sib)
	if res := waitExit(t, d, sib.ID, 60*time.Second); !res.Successful() {
		t.Fatalf("sibling joining its allocation's container: %+v %q", res, sib.stderr.String())
	}
}

// A port with ignore_collision is not published through docker's port
// mapping (DNAT ahead of portmap's, nothing bound to collide with).
func TestPortBindingsRefuseIgnoreCollision(t *testing.T) {
	ports := []structs.AllocatedPort{{Label: "a", Value: 8080, To: 80}, {Label: "b", Value: 8081, To: 81, IgnoreCollision: true}}
	if _, b, err := portBindings([]string{"a"}, ports); err != nil || len(b) != 2 {
		t.Fatalf("plain port: %v %v", b, err)
	}
	if _, _, err := portBindings([]string{"a", "b"}, ports); err == nil || !strings.Contains(err.Error(), "ignore_collision") {
		t.Fatalf("ignore_collision port published: %v", err)
	}
}

// TestSandboxNotAdoptedFromAStranger: a container already named
// orch_init_<alloc> that the driver did not make for that allocation (no
// labels, the host's network) is refused, not wired with CNI and handed
// to the tasks; the driver's own sandbox is found again on a retry.
func TestSandboxNotAdoptedFromAStranger(t *testing.T) {
	d := newTestDriver(t, func(c *Config) { c.InfraImage = testimage.Pause })
	ctx := t.Context()
	if err := testimage.EnsurePause(ctx, d.client); err != nil {
		t.Fatal(err)
	}
	alloc := structs.GenerateUUID()
	resp, err := d.client.ContainerCreate(ctx, &container.Config{Image: testImage, Cmd: []string{"sleep", "30"},
		Labels: map[string]string{LabelNodeID: testNodeID}}, &container.HostConfig{NetworkMode: "host"}, nil, nil, sandboxName(alloc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.client.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true})
	})
	if ns, _, err := d.CreateNetwork(ctx, alloc, ""); err == nil {
		t.Fatalf("a stranger's container was adopted as the sandbox: namespace %s", ns)
	}
	// Nor is it removed when the allocation's network is torn down.
	if err := d.DestroyNetwork(ctx, alloc); err == nil {
		t.Fatal("tearing down the allocation's network did not refuse the stranger's container")
	}
	if _, err := d.client.ContainerInspect(ctx, resp.ID); err != nil {
		t.Fatalf("the stranger's container was removed with the allocation's network: %v", err)
	}

	own := structs.GenerateUUID()
	t.Cleanup(func() { _ = d.DestroyNetwork(context.Background(), own) })
	first, _, err := d.CreateNetwork(ctx, own, "")
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := d.CreateNetwork(ctx, own, "")
	if err != nil || again != first {
		t.Fatalf("retried CreateNetwork: %s %v, first %s", again, err, first)
	}
}
