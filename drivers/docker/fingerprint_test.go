package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testenv"
)

func TestFingerprintHealthy(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t, func(c *Config) { c.AllowPrivileged = true })
	fp := d.Fingerprint(context.Background())
	if !fp.Detected || !fp.Healthy {
		t.Fatalf("fingerprint = %+v", fp)
	}
	a := fp.Attributes
	if a["driver.docker"] != "1" || a["driver.docker.version"] == "" || a["driver.docker.os_type"] != "linux" ||
		!strings.Contains(a["driver.docker.runtimes"], "runc") || a["driver.docker.privileged.enabled"] != "true" {
		t.Fatalf("attributes = %v", a)
	}
	if fp.UpdateTime == "" {
		t.Fatal("no update time")
	}
	plain := newTestDriver(t)
	if _, ok := plain.Fingerprint(context.Background()).Attributes["driver.docker.privileged.enabled"]; ok {
		t.Fatal("privileged attribute set while privileged is not allowed")
	}
}

// TestFingerprintDaemonComesAndGoes points the driver at a socket that
// starts dead, then forwards to the real daemon, then dies again.
func TestFingerprintDaemonComesAndGoes(t *testing.T) {
	t.Parallel()
	real := newTestDriver(t)
	realHost, err := url.Parse(real.client.DaemonHost())
	if err != nil || realHost.Scheme != "unix" {
		testenv.Need(t, "a daemon on a unix socket", fmt.Errorf("daemon host is %s", real.client.DaemonHost()))
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	d := newTestDriver(t, func(c *Config) { c.Endpoint = "unix://" + sock })

	fp := d.Fingerprint(context.Background())
	if fp.Detected || fp.Healthy || !strings.Contains(fp.HealthDescription, "unreachable") {
		t.Fatalf("fingerprint with no daemon = %+v", fp)
	}

	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", realHost.Path)
		}},
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(l)

	fp = d.Fingerprint(context.Background())
	if !fp.Detected || !fp.Healthy || fp.Attributes["driver.docker"] != "1" {
		t.Fatalf("fingerprint after daemon came back = %+v", fp)
	}

	srv.Close()
	fp = d.Fingerprint(context.Background())
	if !fp.Detected || fp.Healthy || fp.HealthDescription == "" {
		t.Fatalf("fingerprint after daemon went away = %+v", fp)
	}
}
