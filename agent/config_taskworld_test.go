package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostVolumeSettings: host_volume blocks are read with their paths
// resolved (a link is followed once, at start); a relative or missing path
// is an error naming the volume.
func TestHostVolumeSettings(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, `client {
  host_volume "data" {
    path = "`+link+`"
  }
  host_volume "ro" {
    path      = "`+real+`"
    read_only = true
  }
}
`)); err != nil {
		t.Fatal(err)
	}
	if v := c.HostVolumes["data"]; v == nil || v.Path != real || v.ReadOnly || v.Name != "data" {
		t.Fatalf("data = %+v", v)
	}
	if v := c.HostVolumes["ro"]; v == nil || !v.ReadOnly {
		t.Fatalf("ro = %+v", v)
	}
	block := func(body string) string { return "client {\n  host_volume " + body + "\n}\n" }
	for body, want := range map[string]string{
		block("\"a\" {\n    path = \"rel/path\"\n  }"):                           `host_volume "a": path "rel/path" must be absolute`,
		block("\"b\" {\n    path = \"" + filepath.Join(dir, "nope") + "\"\n  }"): `host_volume "b": path`,
		block("\"c\" {\n  }"): `Missing required argument`,
	} {
		err := DefaultConfig().LoadFile(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
