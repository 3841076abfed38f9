package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// guardedAgent is a test agent whose handler has guard g.
func guardedAgent(t *testing.T, g Guard, aclEnabled bool) *testAgent {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{backend: b, client: httpapitest.NewClient(structs.GenerateUUID())}
	cfg := Config{Server: b, Client: ta.client, Logger: quietLogger(), Guard: g}
	if aclEnabled {
		cfg.ACLEnabled, cfg.Resolver = true, b.Resolver()
	}
	ta.srv = httptest.NewServer(New(cfg))
	t.Cleanup(ta.srv.Close)
	return ta
}

// send makes a request with extra headers and returns status and body.
func send(t *testing.T, method, url, host string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func jobBody(t *testing.T, id string) string {
	b, err := json.Marshal(&structs.JobRegisterRequest{Job: testJob(id, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGuardHost(t *testing.T) {
	ta := guardedAgent(t, Guard{Hosts: []string{"nomad.example.com", ".corp.example"}}, false)
	for host, want := range map[string]int{
		"":                       200, // the test server's own 127.0.0.1:port
		"localhost:4646":         200,
		"app.localhost":          200,
		"[::1]:4646":             200,
		"10.1.2.3":               200,
		"nomad.example.com:4646": 200,
		"NOMAD.example.com.":     200,
		"x.corp.example":         200,
		"corp.example":           200,
		"evil.example.com:4646":  403, // a rebound name
		"nomad.example.com.evil": 403,
		"xcorp.example":          403,
	} {
		if code, body := send(t, "GET", ta.srv.URL+"/v1/jobs", host, nil, ""); code != want {
			t.Errorf("Host %q: %d %s, want %d", host, code, body, want)
		}
	}
	// Without a list only unrebindable names pass; with ACLs on and no
	// list, any name does (a rebound page has no token).
	bare := guardedAgent(t, Guard{}, false)
	if code, body := send(t, "GET", bare.srv.URL+"/v1/jobs", "nomad.example.com", nil, ""); code != 403 || !strings.Contains(body, "allowed_hosts") {
		t.Fatalf("unlisted host: %d %s", code, body)
	}
	withACL := guardedAgent(t, Guard{}, true)
	if code, _ := send(t, "GET", withACL.srv.URL+"/v1/status/leader", "nomad.example.com", nil, ""); code != 200 {
		t.Fatalf("ACLs on, any host: %d", code)
	}
}

func TestGuardCrossOriginWrites(t *testing.T) {
	ta := guardedAgent(t, Guard{Origins: []string{"https://ui.example.com"}}, false)
	self := "http://" + strings.TrimPrefix(ta.srv.URL, "http://")
	n := 0
	try := func(hdr map[string]string) (int, string) {
		n++
		return send(t, "PUT", ta.srv.URL+"/v1/jobs", "", hdr, jobBody(t, fmt.Sprintf("j%d", n)))
	}
	for name, tc := range map[string]struct {
		hdr  map[string]string
		want int
	}{
		"no headers (nomad CLI, api)": {nil, 200},
		"json":                        {map[string]string{"Content-Type": "application/json"}, 200},
		"json with charset":           {map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
		"same origin":                 {map[string]string{"Origin": self, "Content-Type": "application/json"}, 200},
		"allowed origin":              {map[string]string{"Origin": "https://ui.example.com"}, 200},
		"foreign origin":              {map[string]string{"Origin": "https://evil.example"}, 403},
		"null origin":                 {map[string]string{"Origin": "null"}, 403},
		"cross-site without origin":   {map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		"text/plain":                  {map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, 415},
		"form":                        {map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		"multipart":                   {map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415},
		"text/plain from same origin": {map[string]string{"Origin": self, "Content-Type": "text/plain"}, 415},
		"unparseable content type":    {map[string]string{"Content-Type": "text/plain; charset"}, 415},
	} {
		if code, body := try(tc.hdr); code != tc.want {
			t.Errorf("%s: %d %s, want %d", name, code, body, tc.want)
		}
	}
	// Reads are not writes: a page may read what a simple GET returns only
	// through CORS, which the agent never grants.
	if code, _ := send(t, "GET", ta.srv.URL+"/v1/jobs", "", map[string]string{"Origin": "https://evil.example"}, ""); code != 200 {
		t.Fatalf("GET with a foreign origin: %d", code)
	}
}

func TestGuardBodyLimits(t *testing.T) {
	ta := guardedAgent(t, Guard{MaxBodyBytes: 4 << 10, BodyTimeout: 300 * time.Millisecond}, false)
	big := `{"Job":{"ID":"x","Meta":{"pad":"` + strings.Repeat("a", 8<<10) + `"}}}`
	if code, body := send(t, "PUT", ta.srv.URL+"/v1/jobs", "", nil, big); code != 400 || !strings.Contains(body, "too large") {
		t.Fatalf("oversized body: %d %s", code, body)
	}
	// A body that stalls is cut off after BodyTimeout.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ta.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"Job\":")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a stalled body held its request for %s", took)
	}
	// A blocking query longer than BodyTimeout is not cut off by it.
	var jobs []any
	qstart := time.Now()
	code, _, body := do(t, "GET", ta.srv.URL+"/v1/jobs?index=100000&wait=1s", nil)
	if code != 200 || time.Since(qstart) < 900*time.Millisecond {
		t.Fatalf("blocking query: %d after %s", code, time.Since(qstart))
	}
	_ = json.Unmarshal(body, &jobs)
	// A write whose body arrived in time may take longer than BodyTimeout.
	if code, body := send(t, "PUT", ta.srv.URL+"/v1/jobs", "", nil, jobBody(t, "ok")); code != 200 {
		t.Fatalf("normal write: %d %s", code, body)
	}
}
