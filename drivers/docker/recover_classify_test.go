package docker

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/drivers"
)

// TestRecoverClassifiesErrors: an unreachable daemon (still starting after
// a reboot) is a plain error the client retries; only an unusable handle or
// a 404 (TestRecoverMissingContainer) says the task is gone.
func TestRecoverClassifiesErrors(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "no-dockerd.sock")
	d, err := New(Config{Endpoint: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &drivers.TaskConfig{ID: "a1/web", Name: "web"}
	h := &drivers.TaskHandle{Version: handleVersion, Driver: Name, Config: cfg,
		DriverState: []byte(`{"ContainerID":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`)}
	err = d.Recover(context.Background(), h)
	if err == nil || errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Recover with the daemon down = %v, want a transient (non-ErrTaskNotFound) error", err)
	}
	for name, bad := range map[string]*drivers.TaskHandle{
		"garbage state": {Driver: Name, Config: cfg, DriverState: []byte("garbage")},
		"no state":      {Driver: Name, Config: cfg},
		"no config":     {Driver: Name, DriverState: h.DriverState},
	} {
		if err := d.Recover(context.Background(), bad); !errors.Is(err, drivers.ErrTaskNotFound) {
			t.Errorf("%s: Recover = %v, want ErrTaskNotFound", name, err)
		}
	}
}
