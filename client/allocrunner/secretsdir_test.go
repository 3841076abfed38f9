package allocrunner

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestSecretsDirIsSizedTmpfs: `resources { secrets = 2 }` makes the task's
// secrets/ a tmpfs of 2 MiB, seen from inside the task (a real raw_exec
// process): 1 MiB fits, 2 MiB more does not. Destroying the allocation
// unmounts it and removes the tree.
func TestSecretsDirIsSizedTmpfs(t *testing.T) {
	script := `stat -f -c %T "$NOMAD_SECRETS_DIR"; head -c 1048576 /dev/zero > "$NOMAD_SECRETS_DIR/a" && echo one-ok; ` +
		`head -c 2097152 /dev/zero > "$NOMAD_SECRETS_DIR/b" 2>/dev/null || echo full`
	task := shTask("main", script)
	two := 2
	task.Resources = &structs.Resources{CPU: 100, MemoryMB: 64, SecretsMB: &two}
	f := newAR(t, testAlloc(structs.JobTypeBatch, nil, task), nil)
	select {
	case <-f.ar.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("task did not finish")
	}
	if got := readLog(t, f.ar.dir.LogDir(), "main.stdout.0"); got != "tmpfs\none-ok\nfull\n" {
		t.Fatalf("task saw %q", got)
	}
	root := f.ar.dir.Root
	if !strings.Contains(mountInfo(t), root+"/main/secrets ") {
		t.Fatal("no secrets mount while the allocation exists")
	}
	if err := f.ar.Destroy(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mountInfo(t), root) {
		t.Fatal("a mount under the allocation dir survived its destruction")
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("alloc dir after destroy: %v", err)
	}
}

func mountInfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
