package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// TestHostVolumeE2E: a client's host_volume is fingerprinted into its node
// (HostVolumes, as Nomad's node JSON), and a job mounting it sees the
// volume's contents and writes back to the host: through a bind mount in
// exec's and docker's root, through its path in the environment for
// raw_exec (which has no mount namespace). A read-only host volume takes
// only groups that ask for it read-only and stays read-only whatever the
// mounts ask, and a job needing a volume the node lacks is not placed,
// the failure naming the volume.
func TestHostVolumeE2E(t *testing.T) {
	needDocker(t)
	data, certs := t.TempDir(), t.TempDir()
	os.Chmod(data, 0o777)
	if err := os.WriteFile(filepath.Join(data, "seed.txt"), []byte("seeded-by-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca.pem"), []byte("ca\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`client {
  host_volume "shared-data" {
    path = %q
  }
  host_volume "ca" {
    path      = %q
    read_only = true
  }
}
`, data, certs)), 0o644)
	a := startAgent(t, newIP(), t.TempDir(), "-dev", "-config", cfg)
	jt := trackJobs(t, a)
	waitReady(t, a, 1)

	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	// Decoded with nomad/api's own type for the field.
	var node struct {
		HostVolumes map[string]*nomad.HostVolumeInfo
	}
	if err := getJSON(a.addr()+"/v1/node/"+nodes[0].ID, &node); err != nil {
		t.Fatal(err)
	}
	if hv := node.HostVolumes["shared-data"]; hv == nil || hv.Path != data || hv.ReadOnly {
		t.Fatalf("node HostVolumes[shared-data] = %+v", hv)
	}
	if hv := node.HostVolumes["ca"]; hv == nil || !hv.ReadOnly {
		t.Fatalf("node HostVolumes[ca] = %+v", hv)
	}

	script := func(dir, name string) string {
		return fmt.Sprintf(`cat %[1]s/seed.txt; echo written-by-%[2]s > %[1]s/%[2]s.txt; `+
			`if echo x > %[3]s/x 2>/dev/null; then echo ca-writable; else echo ca-read-only; fi; sleep 600`,
			dir, name, strings.Replace(dir, "data", "ca", 1))
	}
	job := fmt.Sprintf(`job "vols" {
  type = "service"
  group "g" {
    volume "data" {
      type   = "host"
      source = "shared-data"
    }
    volume "ca" {
      type      = "host"
      source    = "ca"
      read_only = true
    }
    task "exec" {
      driver = "exec"
      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }
      volume_mount {
        volume      = "ca"
        destination = "/srv/ca"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
      resources {
        memory = 32
      }
    }
    task "docker" {
      driver = "docker"
      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }
      volume_mount {
        volume      = "ca"
        destination = "/srv/ca"
      }
      config {
        image   = "orch-test/busybox:latest"
        command = "sh"
        args    = ["-c", %q]
      }
      resources {
        memory = 32
      }
    }
    task "raw" {
      driver = "raw_exec"
      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "cat $ORCH_VOLUME_data/seed.txt; echo written-by-raw > $ORCH_VOLUME_data/raw.txt; sleep 600"]
      }
      resources {
        memory = 32
      }
    }
  }
}
`, script("/srv/data", "exec"), script("/srv/data", "docker"))
	jt.run("vols", job)
	id := jt.oneAlloc("vols")
	for _, task := range []string{"exec", "docker", "raw"} {
		waitFor(t, 60*time.Second, task+" wrote to the volume", func() (bool, string) {
			b, err := os.ReadFile(filepath.Join(data, task+".txt"))
			return err == nil && strings.TrimSpace(string(b)) == "written-by-"+task, fmt.Sprint(err)
		})
		want := "ca-read-only"
		if task == "raw" {
			want = "seeded-by-host"
		}
		out := taskLogUntil(t, a, id, task, want)
		if !strings.Contains(out, "seeded-by-host") || strings.Contains(out, "ca-writable") {
			t.Fatalf("%s: output %q", task, out)
		}
	}
	if _, err := os.Stat(filepath.Join(certs, "x")); !os.IsNotExist(err) {
		t.Fatalf("read-only host volume written: %v", err)
	}

	// A volume this node does not have: the scheduler does not place the
	// job, and says which volume is missing.
	out := runUnplaceable(t, a, jt, "novol", `job "novol" {
  type = "batch"
  group "g" {
    volume "v" {
      type   = "host"
      source = "nonexistent"
    }
    task "t" {
      driver = "raw_exec"
      volume_mount {
        volume      = "v"
        destination = "/v"
      }
      config {
        command = "/bin/true"
      }
    }
  }
}
`)
	if !strings.Contains(out, `Constraint "missing compatible host volumes: nonexistent": 1 nodes excluded by filter`) {
		t.Fatalf("placement failure does not name the volume:\n%s", out)
	}
}

// taskLogUntil reads a task's stdout from the agent's alloc dir until it
// contains want.
func taskLogUntil(t *testing.T, a *agentProc, allocID, task, want string) string {
	t.Helper()
	p := filepath.Join(a.dataDir, "alloc", allocID, "alloc", "logs", task+".stdout.0")
	var out string
	waitFor(t, 30*time.Second, task+" output "+want, func() (bool, string) {
		b, err := os.ReadFile(p)
		out = string(b)
		return strings.Contains(out, want), fmt.Sprintf("%q %v", out, err)
	})
	return out
}
