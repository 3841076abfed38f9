package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/tlsutil"
)

// orch tls writes Nomad's file names, and the results form a working PKI.
func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errOut := runCLI(t, "tls", "ca", "create")
	if code != 0 || !strings.Contains(out, "CA certificate saved to: nomad-agent-ca.pem") {
		t.Fatalf("ca create: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "tls", "ca", "create"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("ca create over an existing CA: %d %s", code, errOut)
	}
	for _, role := range []string{"server", "client", "cli"} {
		code, out, errOut := runCLI(t, "tls", "cert", "create", "-"+role)
		if code != 0 {
			t.Fatalf("cert create -%s: %s", role, errOut)
		}
		cert, key := tlsutil.CertFileNames("global", role, "nomad")
		if !strings.Contains(out, "saved to "+cert) || !strings.Contains(out, "saved to "+key) {
			t.Errorf("cert create -%s output:\n%s", role, out)
		}
		for _, f := range []string{cert, key} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("missing %s", f)
			}
		}
		cfg := &tlsutil.Config{RPC: true, CAFile: filepath.Join(dir, "nomad-agent-ca.pem"), CertFile: filepath.Join(dir, cert),
			KeyFile: filepath.Join(dir, key), Region: "global"}
		if err := cfg.Check(); err != nil {
			t.Errorf("%s certificate does not check: %v", role, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "nomad-agent-ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	if code, _, errOut := runCLI(t, "tls", "cert", "create", "-server", "-client"); code != 1 || errOut == "" {
		t.Fatalf("two roles accepted: %d", code)
	}
}
