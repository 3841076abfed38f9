package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestVariablesSurviveLeaderKill writes variables through a follower of a
// three-server cluster, reads them back from every server (each decrypts
// from its own replica), takes a lock, kills the leader with SIGKILL and
// checks that the new leader serves the same keyring and variables, accepts
// writes, and expires the orphaned lock only after its TTL.
func TestVariablesSurviveLeaderKill(t *testing.T) {
	first := newIP()
	var servers []*agentProc
	for i := 0; i < 3; i++ {
		ip := first
		args := []string{"-server", "-bootstrap-expect", "3"}
		if i > 0 {
			ip = newIP()
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	for _, s := range servers {
		waitReady(t, s, 0)
	}
	li := leaderOf(t, servers)
	follower := servers[(li+1)%3]

	// The first leader made one root key; every server sees it.
	var keys []*structs.RootKeyMeta
	waitFor(t, 10*time.Second, "the first root key", func() (bool, string) {
		keys = nil
		err := getJSON(follower.addr()+"/v1/operator/keyring/keys", &keys)
		return err == nil && len(keys) == 1, fmt.Sprint(err, len(keys))
	})

	out, code := follower.cli(t, "var", "put", "nomad/jobs/app", "db_password=s3cret")
	if code != 0 {
		t.Fatalf("var put through a follower: exit %d\n%s", code, out)
	}
	for _, s := range servers {
		out, code := s.cli(t, "var", "get", "-item", "db_password", "nomad/jobs/app")
		if code != 0 || out != "s3cret" {
			t.Fatalf("var get from %s: exit %d %q", s.ip, code, out)
		}
	}
	lock := `{"Items":{"holder":"a"},"Lock":{"TTL":"10s","LockDelay":"1s"}}`
	status, body := putRaw(t, follower.addr()+"/v1/var/locks/leader?lock-acquire", lock)
	if status != 200 {
		t.Fatalf("lock acquire: %d %s", status, body)
	}
	var held structs.VariableDecrypted
	if err := json.Unmarshal([]byte(body), &held); err != nil || held.Lock == nil {
		t.Fatalf("lock reply %s: %v", body, err)
	}

	servers[li].kill()
	killed := time.Now()
	var rest []*agentProc
	for i, s := range servers {
		if i != li {
			rest = append(rest, s)
		}
	}
	waitFor(t, 15*time.Second, "a new leader", func() (bool, string) {
		var l string
		err := getJSON(rest[0].addr()+"/v1/status/leader", &l)
		return err == nil && l != "" && l != servers[li].ip+":4647", l
	})
	var after []*structs.RootKeyMeta
	if err := getJSON(rest[0].addr()+"/v1/operator/keyring/keys", &after); err != nil ||
		len(after) != 1 || after[0].KeyID != keys[0].KeyID {
		t.Fatalf("keyring after failover: %+v %v (before %+v)", after, err, keys[0])
	}
	for _, s := range rest {
		out, code := s.cli(t, "var", "get", "-item", "db_password", "nomad/jobs/app")
		if code != 0 || out != "s3cret" {
			t.Fatalf("var get from %s after failover: exit %d %q", s.ip, code, out)
		}
	}
	if out, code := rest[0].cli(t, "var", "put", "nomad/jobs/app", "db_password=n3w"); code != 0 {
		t.Fatalf("var put after failover: exit %d\n%s", code, out)
	}
	// Nobody renews the lock: the new leader expires it, not before a
	// whole TTL after it took office.
	waitFor(t, 30*time.Second, "the orphaned lock to expire", func() (bool, string) {
		var v structs.VariableDecrypted
		err := getJSON(rest[0].addr()+"/v1/var/locks/leader", &v)
		return err == nil && v.Lock == nil, fmt.Sprint(err)
	})
	if since := time.Since(killed); since < 10*time.Second {
		t.Fatalf("the lock expired %s after the leader died, before its TTL", since)
	}
}

// leaderOf returns the index of the leader all servers agree on.
func leaderOf(t *testing.T, servers []*agentProc) int {
	t.Helper()
	return stableLeader(t, servers)
}

// putRaw sends a PUT with a JSON body and returns the status and body.
func putRaw(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
