package volumes

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// TestVolumesResolve: volume_mounts map onto the node's host volumes
// (read-only when any of the three layers says so), raw_exec-like tasks
// get the path in their environment, and a volume the node lacks fails.
func TestVolumesResolve(t *testing.T) {
	host := map[string]*structs.ClientHostVolumeConfig{
		"data":  {Name: "data", Path: "/srv/data"},
		"certs": {Name: "certs", Path: "/etc/certs", ReadOnly: true},
	}
	groupVols := map[string]*structs.VolumeRequest{
		"d":  {Name: "d", Type: "host", Source: "data"},
		"dr": {Name: "dr", Type: "host", Source: "data", ReadOnly: true},
		"c":  {Name: "c", Type: "host", Source: "certs"},
		"x":  {Name: "x", Type: "host", Source: "missing"},
	}
	vms := []*structs.VolumeMount{
		{Volume: "d", Destination: "/data", PropagationMode: "private"},
		{Volume: "d", Destination: "/data-ro", ReadOnly: true},
		{Volume: "dr", Destination: "/dr"},
		{Volume: "c", Destination: "/certs"},
	}
	mounts, env, err := Resolve(groupVols, vms, host, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []drivers.MountConfig{
		{TaskPath: "/data", HostPath: "/srv/data", PropagationMode: "private"},
		{TaskPath: "/data-ro", HostPath: "/srv/data", Readonly: true},
		{TaskPath: "/dr", HostPath: "/srv/data", Readonly: true},
		{TaskPath: "/certs", HostPath: "/etc/certs", Readonly: true},
	}
	if len(mounts) != len(want) || env != nil {
		t.Fatalf("mounts %v env %v", mounts, env)
	}
	for i, m := range mounts {
		if *m != want[i] {
			t.Fatalf("mount %d = %+v, want %+v", i, *m, want[i])
		}
	}

	mounts, env, err = Resolve(groupVols, vms[:1], host, true)
	if err != nil || len(mounts) != 0 || env[EnvPrefix+"d"] != "/srv/data" {
		t.Fatalf("no mount namespace: mounts %v env %v err %v", mounts, env, err)
	}

	_, _, err = Resolve(groupVols, []*structs.VolumeMount{{Volume: "x", Destination: "/x"}}, host, false)
	if err == nil || !strings.Contains(err.Error(), `host volume "missing" is not available`) {
		t.Fatalf("missing volume: %v", err)
	}
	_, _, err = Resolve(groupVols, []*structs.VolumeMount{{Volume: "c", Destination: "/c", PropagationMode: "bidirectional"}}, host, false)
	if err == nil {
		t.Fatal("bidirectional propagation on a read-only volume accepted")
	}
}
