package docker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/internal/testimage"
	"github.com/orch-project/orch/structs"
)

// testImage is built locally from the host's static busybox (there is no
// registry here) and kept between runs.
const testImage = testimage.Busybox

var (
	// dockerErr says why Docker tests cannot run; nil when they can.
	dockerErr error
	// testNodeID labels every container this run creates, so the final
	// sweep removes them all even when a test failed half-way.
	testNodeID = "orch-test-" + structs.GenerateUUID()[:8]
	// The orphan test runs as its own node (orphanNodeID) so that it cannot
	// remove containers of tests running in parallel; otherNodeID is a
	// second node sharing the daemon.
	orphanNodeID = testNodeID + "-orphans"
	otherNodeID  = testNodeID + "-other"
)

func TestMain(m *testing.M) {
	dockerErr = prepareDocker()
	code := m.Run()
	if dockerErr == nil {
		sweepContainers()
	}
	os.Exit(code)
}

// needDocker skips without Docker unless CI is set, where it fails.
func needDocker(tb testing.TB) {
	tb.Helper()
	testenv.Need(tb, "docker", dockerErr)
}

func prepareDocker() error {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		return fmt.Errorf("pinging daemon: %w", err)
	}
	return testimage.EnsureBusybox(ctx, c)
}

// sweepContainers removes whatever this run's tests left behind.
func sweepContainers() {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, node := range []string{testNodeID, orphanNodeID, otherNodeID} {
		list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelNodeID+"="+node))})
		if err != nil {
			continue
		}
		for _, ct := range list {
			_ = c.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}
