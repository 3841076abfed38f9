package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A cni_config_dir network written as a single plugin's .conf or .json
// (not a .conflist) is one the client attaches (libcni.LoadNetworkConf
// reads them, as Nomad's client does): it is fingerprinted too, or the
// scheduler would never place a group asking for it. Broken files and
// duplicate names are left out.
func TestFingerprintSingleConfFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"10-list.conflist": `{"cniVersion": "0.4.0", "name": "listed", "plugins": [{"type": "loopback"}]}`,
		"20-single.conf":   `{"cniVersion": "0.4.0", "name": "single", "type": "loopback"}`,
		"30-other.json":    `{"cniVersion": "0.4.0", "name": "jsonnet", "type": "loopback"}`,
		"40-dup.conf":      `{"cniVersion": "0.4.0", "name": "listed", "type": "loopback"}`,
		"50-broken.conf":   `{"name": `,
		"60-notes.txt":     `{"cniVersion": "0.4.0", "name": "ignored", "type": "loopback"}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{CNIPath: t.TempDir(), CNIConfigDir: dir, StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, n := range m.Fingerprint() {
		modes = append(modes, n.Mode)
	}
	if got := strings.Join(modes, ","); got != "cni/jsonnet,cni/listed,cni/single" {
		t.Fatalf("fingerprinted %q, want cni/jsonnet,cni/listed,cni/single", got)
	}
	// Each fingerprinted network is one the attach path loads.
	for _, mode := range modes {
		if _, err := m.confList(mode); err != nil {
			t.Errorf("%s fingerprinted but not loadable: %v", mode, err)
		}
	}
}
