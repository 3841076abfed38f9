package services

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/structs"
)

func runProbe(t *testing.T, c *structs.ServiceCheck, addr string, exec Exec) probeResult {
	t.Helper()
	p, err := newProbe(c, addr, func() Exec { return exec })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p(ctx)
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var gotMethod, gotHeader, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			b := make([]byte, 64)
			n, _ := r.Body.Read(b)
			mu.Lock()
			gotMethod, gotHeader, gotBody = r.Method, r.Header.Get("X-Probe"), string(b[:n])
			mu.Unlock()
			w.Write([]byte("fine"))
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/slow":
			time.Sleep(3 * time.Second)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := &structs.ServiceCheck{Name: "h", Type: "http", Path: "/ok?x=1", Method: "POST", Body: "ping",
		Header: map[string][]string{"X-Probe": {"yes"}}}
	res := runProbe(t, c, addr, nil)
	if res.health != structs.HealthPassing || res.statusCode != 200 || !strings.Contains(res.output, "fine") {
		t.Fatalf("ok: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotMethod != "POST" || gotHeader != "yes" || gotBody != "ping" {
		t.Fatalf("request %s %q %q", gotMethod, gotHeader, gotBody)
	}
	for path, want := range map[string]string{"/busy": structs.HealthWarning, "/fail": structs.HealthCritical, "/slow": structs.HealthCritical} {
		if res := runProbe(t, &structs.ServiceCheck{Type: "http", Path: path}, addr, nil); res.health != want {
			t.Fatalf("%s: %+v", path, res)
		}
	}
	if res := runProbe(t, &structs.ServiceCheck{Type: "http", Path: "/"}, "127.0.0.1:1", nil); res.health != structs.HealthCritical {
		t.Fatalf("closed port: %+v", res)
	}
	// https with a self-signed certificate, tls_skip_verify as asked.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tlsSrv.Close()
	taddr := strings.TrimPrefix(tlsSrv.URL, "https://")
	if res := runProbe(t, &structs.ServiceCheck{Type: "http", Protocol: "https", Path: "/"}, taddr, nil); res.health != structs.HealthCritical {
		t.Fatalf("untrusted https passed: %+v", res)
	}
	if res := runProbe(t, &structs.ServiceCheck{Type: "http", Protocol: "https", Path: "/", TLSSkipVerify: true}, taddr, nil); res.health != structs.HealthPassing {
		t.Fatalf("https with tls_skip_verify: %+v", res)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if res := runProbe(t, &structs.ServiceCheck{Type: "tcp"}, addr, nil); res.health != structs.HealthPassing {
		t.Fatalf("open: %+v", res)
	}
	ln.Close()
	if res := runProbe(t, &structs.ServiceCheck{Type: "tcp"}, addr, nil); res.health != structs.HealthCritical {
		t.Fatalf("closed: %+v", res)
	}
}

// The gRPC probe speaks the standard health protocol to grpc-go's own
// health server.
func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(ln)
	defer gs.Stop()
	addr := ln.Addr().String()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_NOT_SERVING)
	if res := runProbe(t, &structs.ServiceCheck{Type: "grpc"}, addr, nil); res.health != structs.HealthPassing {
		t.Fatalf("serving: %+v", res)
	}
	if res := runProbe(t, &structs.ServiceCheck{Type: "grpc", GRPCService: "api"}, addr, nil); res.health != structs.HealthCritical || !strings.Contains(res.output, "NOT_SERVING") {
		t.Fatalf("not serving: %+v", res)
	}
	if res := runProbe(t, &structs.ServiceCheck{Type: "grpc", GRPCService: "nope"}, addr, nil); res.health != structs.HealthCritical || !strings.Contains(res.output, "grpc-status 5") {
		t.Fatalf("unknown service: %+v", res)
	}
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	if res := runProbe(t, &structs.ServiceCheck{Type: "grpc", GRPCService: "api"}, addr, nil); res.health != structs.HealthPassing {
		t.Fatalf("api serving: %+v", res)
	}
}

func TestScriptProbeExitCodes(t *testing.T) {
	exec := func(ctx context.Context, req *drivers.ExecRequest) (int, error) {
		path, err := isolation.LookPath(req.Command[0], "/", nil)
		if err != nil {
			return 0, err
		}
		return isolation.RunHost(ctx, &isolation.HostCommand{Path: path, Args: req.Command, Stdout: req.Stdout, Stderr: req.Stderr})
	}
	for code, want := range map[string]string{"0": structs.HealthPassing, "1": structs.HealthWarning, "2": structs.HealthCritical} {
		c := &structs.ServiceCheck{Type: "script", Command: "/bin/sh", Args: []string{"-c", "echo out-" + code + "; exit " + code}}
		res := runProbe(t, c, "", exec)
		if res.health != want || res.output != "out-"+code+"\n" {
			t.Fatalf("exit %s: %+v", code, res)
		}
	}
	c := &structs.ServiceCheck{Type: "script", Command: "/bin/sleep", Args: []string{"10"}}
	if res := runProbe(t, c, "", exec); res.health != structs.HealthCritical || res.output != "check timed out" {
		t.Fatalf("timeout: %+v", res)
	}
	if res := runProbe(t, c, "", nil); res.health != structs.HealthCritical {
		t.Fatalf("no task: %+v", res)
	}
}

func TestCheckStateThresholds(t *testing.T) {
	st := newCheckState(&structs.ServiceCheck{SuccessBeforePassing: 2, FailuresBeforeCritical: 3, FailuresBeforeWarning: 1})
	seq := []struct{ in, want string }{
		{structs.HealthPassing, structs.HealthPending},
		{structs.HealthPassing, structs.HealthPassing},
		{structs.HealthCritical, structs.HealthWarning},
		{structs.HealthCritical, structs.HealthWarning},
		{structs.HealthCritical, structs.HealthCritical},
		{structs.HealthPassing, structs.HealthCritical},
		{structs.HealthCritical, structs.HealthWarning},
	}
	for i, s := range seq {
		if got := st.observe(s.in); got != s.want {
			t.Fatalf("step %d: %s gave %s, want %s", i, s.in, got, s.want)
		}
	}
	if st := newCheckState(&structs.ServiceCheck{InitialStatus: "passing"}); st.status != structs.HealthPassing {
		t.Fatalf("initial status %s", st.status)
	}
	plain := newCheckState(&structs.ServiceCheck{})
	if plain.observe(structs.HealthCritical) != structs.HealthCritical || plain.observe(structs.HealthPassing) != structs.HealthPassing {
		t.Fatal("no thresholds: results should count at once")
	}
}
