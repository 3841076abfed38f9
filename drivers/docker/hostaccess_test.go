package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/errdefs"

	"github.com/orch-project/orch/drivers"
)

// allocTree is <root>/{alloc/data,web/local,web/secrets} with TaskDir web.
func allocTree(t *testing.T) *drivers.TaskConfig {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"alloc/data", "web/local", "web/secrets"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &drivers.TaskConfig{AllocDir: filepath.Join(root, "alloc"), TaskDir: filepath.Join(root, "web")}
}

func TestBindSourceStaysInAllocDir(t *testing.T) {
	cfg := allocTree(t)
	root, _ := filepath.EvalSymlinks(filepath.Dir(cfg.TaskDir))
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(cfg.TaskDir, "local", name)); err != nil {
			t.Fatal(err)
		}
	}
	link("host", "/")
	link("dangling", "/nonexistent-orch-test-dir")
	link("sibling", "../secrets")
	link("up", "../../..")

	d := &Driver{}
	ok := map[string]string{
		"local":              filepath.Join(root, "web", "local"),
		"local/new/dir":      filepath.Join(root, "web", "local", "new", "dir"),
		"../alloc/data":      filepath.Join(root, "alloc", "data"),
		".":                  filepath.Join(root, "web"),
		"..":                 root,
		"local/sibling":      filepath.Join(root, "web", "secrets"),
		"local/../../alloc/": filepath.Join(root, "alloc"),
	}
	for src, want := range ok {
		got, err := d.bindSource(cfg, src)
		if err != nil || got != want {
			t.Errorf("bindSource(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
	refused := map[string]string{
		"/":                  "absolute host paths need the client option docker.volumes.enabled",
		"/etc":               "absolute host paths need the client option docker.volumes.enabled",
		"../..":              "leaves the allocation directory",
		"local/../../../etc": "leaves the allocation directory",
		"local/host":         "outside the allocation directory",
		"local/host/etc":     "outside the allocation directory",
		"local/up/x":         "outside the allocation directory",
		"local/dangling":     "dangling symlink",
		"local/dangling/sub": "dangling symlink",
	}
	for src, want := range refused {
		got, err := d.bindSource(cfg, src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bindSource(%q) = %q, %v; want error containing %q", src, got, err, want)
		}
	}
	if _, err := d.bindSource(&drivers.TaskConfig{}, "data"); err == nil {
		t.Error("relative path accepted without a task dir")
	}

	open := &Driver{cfg: Config{VolumesEnabled: true}}
	for src, want := range map[string]string{"/": "/", "/srv/data": "/srv/data", "../../x": filepath.Join(filepath.Dir(filepath.Dir(cfg.TaskDir)), "x")} {
		if got, err := open.bindSource(cfg, src); err != nil || got != want {
			t.Errorf("volumes enabled: bindSource(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
}

func TestTaskMountsPolicy(t *testing.T) {
	cfg := allocTree(t)
	// Named volumes are a cross-job channel: off unless the operator
	// enables docker.volumes.enabled.
	closed := &Driver{}
	for _, bad := range []*taskConfig{
		{Volumes: []volumeSpec{{Host: "cache", Container: "/cache"}}},
		{Mounts: []mountConfig{{Type: "volume", Source: "named", Target: "/v"}}},
	} {
		if _, _, err := closed.taskMounts(cfg, bad); err == nil || !strings.Contains(err.Error(), "docker.volumes.enabled") {
			t.Errorf("named volume without docker.volumes.enabled: %v", err)
		}
	}
	if _, _, err := closed.taskMounts(cfg, &taskConfig{Volumes: []volumeSpec{{Host: "../alloc/data", Container: "/data"}},
		Mounts: []mountConfig{{Type: "tmpfs", Target: "/t"}}}); err != nil {
		t.Fatalf("alloc-dir bind and tmpfs without docker.volumes.enabled: %v", err)
	}
	d := &Driver{cfg: Config{VolumesEnabled: true}}
	tc := &taskConfig{
		Volumes: []volumeSpec{{Host: "cache", Container: "/cache"}, {Host: "../alloc/data", Container: "/data", ReadOnly: true}},
		Mounts: []mountConfig{
			{Type: "volume", Source: "named", Target: "/v"},
			{Type: "tmpfs", Target: "/t"},
			{Type: "bind", Source: "local", Target: "/l"},
		},
	}
	binds, mounts, err := d.taskMounts(cfg, tc)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.EvalSymlinks(filepath.Dir(cfg.TaskDir))
	// The log dir goes read-only over the alloc dir (issue 8: a task must
	// not plant links where the agent rotates and serves logs).
	if binds[1] != cfg.AllocDir+"/logs:/alloc/logs:ro" {
		t.Fatalf("log dir bind = %q", binds[1])
	}
	if got := strings.Join(binds[4:], ","); got != "cache:/cache,"+filepath.Join(root, "alloc", "data")+":/data:ro" {
		t.Fatalf("binds = %v", binds)
	}
	if mounts[0].Source != "named" || mounts[1].Source != "" || mounts[2].Source != filepath.Join(root, "web", "local") {
		t.Fatalf("mounts = %+v", mounts)
	}

	for _, bad := range []*taskConfig{
		{Volumes: []volumeSpec{{Host: "/", Container: "/host"}}},
		{Volumes: []volumeSpec{{Host: "./../../", Container: "/host"}}},
		{Mounts: []mountConfig{{Type: "bind", Source: "/", Target: "/host"}}},
		{Mounts: []mountConfig{{Type: "bind", Source: "../../etc", Target: "/host"}}},
	} {
		if _, _, err := closed.taskMounts(cfg, bad); err == nil {
			t.Errorf("taskMounts accepted %+v", bad)
		}
	}
}

func TestCheckCaps(t *testing.T) {
	cases := []struct {
		allow []string // nil: the default
		add   []string
		err   string
	}{
		{nil, []string{"NET_RAW", "cap_chown", "Sys_Chroot"}, ""},
		{nil, []string{"SYS_ADMIN"}, "cap_add SYS_ADMIN not allowed by the client's docker.caps.allowlist"},
		{nil, []string{"ALL"}, "cap_add ALL not allowed"},
		{nil, []string{"net_admin", "CHOWN", "sys_ptrace"}, "cap_add NET_ADMIN, SYS_PTRACE not allowed"},
		{[]string{"SYS_ADMIN"}, []string{"cap_sys_admin"}, ""},
		{[]string{"SYS_ADMIN"}, []string{"all"}, "cap_add ALL not allowed"},
		{[]string{"SYS_ADMIN"}, []string{"CHOWN"}, "cap_add CHOWN not allowed"},
		{[]string{"ALL"}, []string{"ALL", "SYS_ADMIN"}, ""},
		{[]string{}, []string{"CHOWN"}, "cap_add CHOWN not allowed"},
		{[]string{}, nil, ""},
	}
	for _, c := range cases {
		err := (&Driver{cfg: Config{CapAllowlist: c.allow}}).checkCaps(c.add)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("allow %v add %v: err = %v, want %q", c.allow, c.add, err, c.err)
		}
	}
}

func TestHostAccessOptions(t *testing.T) {
	c, err := ConfigFromOptions(nil)
	if err != nil || c.VolumesEnabled || c.CapAllowlist != nil {
		t.Fatalf("defaults = %+v, %v", c, err)
	}
	c, err = ConfigFromOptions(map[string]string{OptionVolumesEnabled: "true", OptionCapAllowlist: " net_admin, CAP_SYS_TIME ,"})
	if err != nil || !c.VolumesEnabled || strings.Join(c.CapAllowlist, ",") != "NET_ADMIN,SYS_TIME" {
		t.Fatalf("ConfigFromOptions = %+v, %v", c, err)
	}
	c, err = ConfigFromOptions(map[string]string{OptionCapAllowlist: ""})
	if err != nil || c.CapAllowlist == nil || len(c.CapAllowlist) != 0 {
		t.Fatalf("empty allowlist = %#v, %v", c.CapAllowlist, err)
	}
	if _, err := ConfigFromOptions(map[string]string{OptionVolumesEnabled: "perhaps"}); err == nil {
		t.Fatal("bad bool accepted")
	}
}

func TestStartRefusesHostAccess(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	for name, extra := range map[string]map[string]any{
		"host root volume": {"volumes": []any{"/:/host"}},
		"climbing volume":  {"volumes": []any{"../../../:/host"}},
		"host bind mount":  {"mount": []any{map[string]any{"type": "bind", "source": "/", "target": "/host"}}},
		"sys_admin":        {"cap_add": []any{"SYS_ADMIN"}},
		"all caps":         {"cap_add": []any{"ALL"}},
		"privileged":       {"privileged": true},
	} {
		config := busybox("true")
		for k, v := range extra {
			config[k] = v
		}
		cfg := newTestTaskConfig(t, config)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := d.Start(ctx, cfg)
		cancel()
		if err == nil {
			_ = d.Destroy(cfg.ID, true)
			t.Fatalf("%s: Start succeeded", name)
		}
		if !strings.Contains(err.Error(), OptionVolumesEnabled) && !strings.Contains(err.Error(), "allocation directory") &&
			!strings.Contains(err.Error(), OptionCapAllowlist) && !strings.Contains(err.Error(), "privileged containers are not allowed") {
			t.Fatalf("%s: unclear error %v", name, err)
		}
		// A refusal is final: the task fails at once instead of being
		// retried by its restart policy forever.
		if !drivers.IsNonRecoverable(err) {
			t.Fatalf("%s: refusal %v is recoverable", name, err)
		}
		if _, err := d.client.ContainerInspect(context.Background(), containerName(cfg)); !errdefs.IsNotFound(err) {
			t.Fatalf("%s: container exists after refused start (inspect err %v)", name, err)
		}
	}
}

func TestStartBindsInsideAllocDir(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", "cat /data/f /mnt/f"))
	allocRoot := filepath.Dir(tt.TaskDir)
	if err := os.MkdirAll(filepath.Join(allocRoot, "alloc", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(allocRoot, "alloc", "data", "f"), []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tt.TaskDir, "local", "f"), []byte("local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tt.Config["volumes"] = []any{"../alloc/data:/data:ro"}
	tt.Config["mount"] = []any{map[string]any{"type": "bind", "source": "local", "target": "/mnt"}}
	tt.Config["cap_add"] = []any{"net_raw", "CAP_CHOWN"}
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit = %+v, stderr %q", res, tt.stderr.String())
	}
	if got := tt.stdout.String(); got != "shared\nlocal\n" {
		t.Fatalf("stdout = %q", got)
	}
}
