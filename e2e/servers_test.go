package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// startServers runs n server agents that bootstrap together and waits
// for a leader.
func startServers(t testing.TB, n int, extra ...string) []*agentProc {
	t.Helper()
	var servers []*agentProc
	first := newIP()
	for i := 0; i < n; i++ {
		ip := first
		if i > 0 {
			ip = newIP()
		}
		args := append([]string{"-server", "-bootstrap-expect", fmt.Sprint(n)}, extra...)
		if i > 0 {
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	waitFor(t, 30*time.Second, "a leader", func() (bool, string) {
		return leaderIndex(servers) >= 0, ""
	})
	return servers
}

// leaderIndex returns the index of the server every live server reports
// as leader (the leader itself included), or -1 while they disagree: at
// start, or under load, a follower may still name a leader that has just
// lost an election, and a test acting on it (killing "the leader") would
// test something else.
func leaderIndex(servers []*agentProc) int {
	var leader string
	for _, s := range servers {
		var l string
		if err := getJSON(s.addr()+"/v1/status/leader", &l); err != nil {
			continue // a stopped server
		}
		if l == "" || (leader != "" && l != leader) {
			return -1
		}
		leader = l
	}
	for i, s := range servers {
		if leader == s.ip+":4647" {
			return i
		}
	}
	return -1
}

// stableLeader waits until the live servers agree on a leader and returns
// its index.
func stableLeader(t testing.TB, servers []*agentProc) int {
	t.Helper()
	li := -1
	waitFor(t, 30*time.Second, "servers agreeing on a leader", func() (bool, string) {
		li = leaderIndex(servers)
		return li >= 0, ""
	})
	return li
}

// leaderAmong waits until one of servers (other than skip) is leader by
// its own account, and returns it.
func leaderAmong(t testing.TB, servers []*agentProc, skip *agentProc) *agentProc {
	t.Helper()
	var found *agentProc
	waitFor(t, 30*time.Second, "a leader among the others", func() (bool, string) {
		for _, s := range servers {
			if s == skip {
				continue
			}
			var l string
			if getJSON(s.addr()+"/v1/status/leader", &l) == nil && l == s.ip+":4647" {
				found = s
				return true, ""
			}
		}
		return false, ""
	})
	return found
}

func (a *agentProc) signal(sig syscall.Signal) {
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatalf("signal %v: %v", sig, err)
	}
}

// request sends method url with body (JSON-encoded unless []byte) and
// headers, and returns status, headers and body; status 0 on a transport
// error.
func request(method, url string, body any, hdr map[string]string, timeout time.Duration) (int, http.Header, []byte) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, _ := json.Marshal(b)
		rd = bytes.NewReader(enc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// batchJob is a job that stays pending without clients: enough to test
// what servers store and answer.
func batchJob(id string) *structs.JobRegisterRequest {
	return &structs.JobRegisterRequest{Job: &structs.Job{
		ID: id, Name: id, Type: structs.JobTypeBatch, Datacenters: []string{"dc1"},
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1, Tasks: []*structs.Task{{
			Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
		}}}},
	}}
}

// register submits a job through a and requires success.
func register(t testing.TB, a *agentProc, id string) {
	t.Helper()
	var code int
	var body []byte
	waitFor(t, 20*time.Second, "job "+id+" registered", func() (bool, string) {
		code, _, body = request("PUT", a.addr()+"/v1/jobs", batchJob(id), nil, 10*time.Second)
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
}
