package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// crossSiteJob is what a hostile web page would post: a raw_exec job that
// creates a file as root.
func crossSiteJob(id, marker string) string {
	return fmt.Sprintf(`{"Job":{"ID":%q,"Name":%q,"Type":"batch","Datacenters":["*"],"TaskGroups":[{"Name":"g","Count":1,`+
		`"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/touch","args":[%q]},"Resources":{"CPU":50,"MemoryMB":32}}]}]}}`,
		id, id, marker)
}

// TestAttackCrossSitePost is issue 8's cross-site attack: a web page makes
// the operator's browser POST a job to a -dev agent, with Content-Type
// text/plain (no CORS preflight) and its own Origin, or through a DNS name
// rebound to the agent's address. None of them may register anything;
// the stock client's way of submitting still works.
func TestAttackCrossSitePost(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		host string
		hdr  map[string]string
		want int
	}{
		"text/plain from a foreign origin": {"", map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"}, 403},
		"form from a foreign origin":       {"", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}, 403},
		"text/plain without an origin":     {"", map[string]string{"Content-Type": "text/plain"}, 415},
		"rebound DNS name":                 {"evil.example:4646", map[string]string{"Content-Type": "text/plain"}, 403},
		"rebound name, same origin":        {"evil.example:4646", map[string]string{"Origin": "http://evil.example:4646"}, 403},
	} {
		id := "xsite-" + strings.ReplaceAll(name, " ", "-")
		marker := filepath.Join(dir, uuid.NewString())
		req, _ := http.NewRequest("POST", a.addr()+"/v1/jobs", strings.NewReader(crossSiteJob(strings.ReplaceAll(id, "/", ""), marker)))
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, tc.want)
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: the posted job ran", name)
		}
	}
	var jobs []map[string]any
	if err := getJSON(a.addr()+"/v1/jobs", &jobs); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs after the attack: %v %v", jobs, err)
	}
	// What the stock CLI and api send (no Content-Type) still works.
	marker := filepath.Join(dir, "legit")
	resp, err := http.Post(a.addr()+"/v1/jobs", "", strings.NewReader(crossSiteJob("legit", marker)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("legitimate submit: %d", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, "the legitimate job ran", func() (bool, string) {
		_, err := os.Stat(marker)
		return err == nil, fmt.Sprint(err)
	})
}

// dialFrom opens a TCP connection to addr from a given loopback source.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// TestConnectionFloodIsBounded is issue 8's 2,000 connections held open:
// one source gets Nomad's 100 connections (the rest are told 429 and
// closed), connections that never send a request are closed after the
// header timeout, idle keep-alive ones after the idle timeout, and other
// clients are served meanwhile.
func TestConnectionFloodIsBounded(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	hostport := a.ip + ":4646"
	attacker, idler, user := newIP(), newIP(), newIP()

	var refused, held atomic.Int32
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 2000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialFrom(attacker, hostport)
			if err != nil {
				refused.Add(1)
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			_ = c.SetReadDeadline(time.Time{})
			switch {
			case err == nil && strings.Contains(line, "429"):
				refused.Add(1)
				c.Close()
			case isTimeout(err):
				held.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			default:
				refused.Add(1)
				c.Close()
			}
		}()
	}
	wg.Wait()
	t.Logf("2000 connections from one source: %d held, %d refused (%s)", held.Load(), refused.Load(), time.Since(start))
	if held.Load() > 100 || held.Load() < 90 {
		t.Fatalf("%d connections held open by one source, want Nomad's limit of 100", held.Load())
	}

	// Another client is served while the flood holds its connections.
	uc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(user)}}).DialContext}}
	resp, err := uc.Get(a.addr() + "/v1/status/leader")
	if err != nil {
		t.Fatalf("another client was not served during the flood: %v", err)
	}
	resp.Body.Close()

	// Idle keep-alive connections after one request each.
	var idle []net.Conn
	for i := 0; i < 20; i++ {
		c, err := dialFrom(idler, hostport)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /v1/agent/health HTTP/1.1\r\nHost: %s\r\n\r\n", hostport)
		r := bufio.NewReader(c)
		if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("keep-alive request: %v", err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		idle = append(idle, c)
	}
	idleStart := time.Now()

	// The flood's connections never sent a request: closed after the
	// header timeout (10 s).
	waitClosed(t, conns, 20*time.Second, "connections without a request")
	t.Logf("flood connections closed after %s", time.Since(start))
	waitClosed(t, idle, 45*time.Second, "idle keep-alive connections")
	t.Logf("idle keep-alive connections closed after %s", time.Since(idleStart))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// waitClosed waits until the server closed every connection.
func waitClosed(t *testing.T, conns []net.Conn, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var wg sync.WaitGroup
	var open atomic.Int32
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetReadDeadline(deadline)
			if _, err := io.Copy(io.Discard, c); isTimeout(err) {
				open.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := open.Load(); n > 0 {
		t.Fatalf("%d of %d %s still open after %s", n, len(conns), what, within)
	}
}
