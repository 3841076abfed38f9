package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// A leader paused past an election resumes believing it leads, with
// responses from before the pause buffered in its sockets. A ?consistent
// read it was sent meanwhile must not be answered from its stale state:
// the job registered through the new leader is never reported missing.
func TestConsistentReadNotAnsweredByADeposedLeader(t *testing.T) {
	servers := startServers(t, 3)
	old := servers[stableLeader(t, servers)]
	register(t, old, "before")

	old.signal(syscall.SIGSTOP)
	defer old.signal(syscall.SIGCONT)
	newLeader := leaderAmong(t, servers, old)
	register(t, newLeader, "after")

	type answer struct {
		code int
		body []byte
	}
	out := make(chan answer, 1)
	go func() {
		code, _, body := request("GET", old.addr()+"/v1/job/after?consistent", nil, nil, 20*time.Second)
		out <- answer{code, body}
	}()
	time.Sleep(300 * time.Millisecond) // the request waits in the paused leader's socket
	old.signal(syscall.SIGCONT)
	a := <-out
	switch a.code {
	case 200:
		var job structs.Job
		if err := json.Unmarshal(a.body, &job); err != nil || job.ID != "after" {
			t.Fatalf("consistent read answered 200 with %s", a.body)
		}
	case 404:
		t.Fatalf("the deposed leader answered a consistent read from its stale state: %s", a.body)
	default:
		t.Logf("the deposed leader refused the consistent read: %d %s", a.code, a.body)
	}
	// Once it knows the new leader, it forwards consistent and default reads.
	waitFor(t, 20*time.Second, "the old leader forwarding reads", func() (bool, string) {
		code, _, body := request("GET", old.addr()+"/v1/job/after?consistent", nil, nil, 5*time.Second)
		code2, _, _ := request("GET", old.addr()+"/v1/job/after", nil, nil, 5*time.Second)
		return code == 200 && code2 == 200, fmt.Sprintf("%d %d %s", code, code2, body)
	})
}

// A write that reaches an agent after its caller's deadline is refused
// with 504 and never committed: here a paused leader resumes to find it in
// its socket, long after the caller gave up.
func TestWriteAfterItsDeadlineIsNotCommitted(t *testing.T) {
	servers := startServers(t, 3)
	old := servers[stableLeader(t, servers)]
	old.signal(syscall.SIGSTOP)
	defer old.signal(syscall.SIGCONT)
	deadline := time.Now().Add(500 * time.Millisecond)
	out := make(chan int, 1)
	go func() {
		code, _, _ := request("PUT", old.addr()+"/v1/jobs", batchJob("late"),
			map[string]string{"X-Orch-Deadline": strconv.FormatInt(deadline.UnixMilli(), 10)}, 30*time.Second)
		out <- code
	}()
	newLeader := leaderAmong(t, servers, old)
	old.signal(syscall.SIGCONT)
	if code := <-out; code != 504 {
		t.Fatalf("a write handled after its deadline answered %d, want 504", code)
	}
	time.Sleep(2 * time.Second)
	for _, s := range []*agentProc{newLeader, old} {
		code, _, body := request("GET", s.addr()+"/v1/job/late?consistent", nil, nil, 10*time.Second)
		if code != 404 {
			t.Fatalf("job written past its deadline: GET via %s answered %d %s", s.ip, code, body)
		}
	}
}

// After every server restarts (kill -9), none answers a read from a state
// that is not yet restored: every answer holds all the jobs, and no
// server's X-Nomad-Index goes below what it answered before.
func TestRestartedServersAnswerOnlyRestoredState(t *testing.T) {
	servers := startServers(t, 3)
	const jobs = 30
	leader := servers[stableLeader(t, servers)]
	for i := 0; i < jobs; i++ {
		register(t, leader, fmt.Sprintf("j%02d", i))
	}
	indexBefore := map[*agentProc]uint64{}
	for _, s := range servers {
		waitFor(t, 10*time.Second, "replica caught up", func() (bool, string) {
			code, h, body := request("GET", s.addr()+"/v1/jobs?stale", nil, nil, 5*time.Second)
			var list []json.RawMessage
			_ = json.Unmarshal(body, &list)
			indexBefore[s], _ = strconv.ParseUint(h.Get("X-Nomad-Index"), 10, 64)
			return code == 200 && len(list) == jobs, fmt.Sprintf("%d, %d jobs", code, len(list))
		})
	}
	for _, s := range servers {
		s.kill()
	}
	for _, s := range servers {
		s.start()
	}
	var mu sync.Mutex
	answered := map[string]int{}
	var wg sync.WaitGroup
	stop := time.Now().Add(8 * time.Second)
	for _, s := range servers {
		for _, q := range []string{"?stale", ""} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					code, h, body := request("GET", s.addr()+"/v1/jobs"+q, nil, nil, 5*time.Second)
					if code != 200 {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					var list []json.RawMessage
					_ = json.Unmarshal(body, &list)
					idx, _ := strconv.ParseUint(h.Get("X-Nomad-Index"), 10, 64)
					if len(list) != jobs || idx < indexBefore[s] {
						t.Errorf("%s%s answered %d jobs at index %d (before the restart: %d jobs at %d)", s.ip, q, len(list), idx, jobs, indexBefore[s])
						return
					}
					mu.Lock()
					answered[s.ip+q]++
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	for _, s := range servers {
		if answered[s.ip+"?stale"] == 0 || answered[s.ip] == 0 {
			t.Errorf("%s never answered after the restart: %v", s.ip, answered)
		}
	}
}

// A stale read tells how fresh it is: a server cut off from its peers
// keeps answering ?stale with a growing X-Nomad-LastContact and
// X-Nomad-KnownLeader false, while default reads, which need a leader,
// fail.
func TestStaleReadsReportFreshness(t *testing.T) {
	servers := startServers(t, 3)
	li := stableLeader(t, servers)
	register(t, servers[li], "j")
	follower := servers[(li+1)%3]
	waitFor(t, 10*time.Second, "the follower's fresh stale read", func() (bool, string) {
		code, h, _ := request("GET", follower.addr()+"/v1/job/j?stale", nil, nil, 5*time.Second)
		lc, _ := strconv.Atoi(h.Get("X-Nomad-LastContact"))
		return code == 200 && h.Get("X-Nomad-KnownLeader") == "true" && lc < 1000, fmt.Sprintf("%d %v", code, h)
	})
	for i, s := range servers {
		if i != (li+1)%3 {
			s.kill()
		}
	}
	killed := time.Now()
	waitFor(t, 20*time.Second, "the follower to lose its leader", func() (bool, string) {
		code, h, _ := request("GET", follower.addr()+"/v1/job/j?stale", nil, nil, 5*time.Second)
		lc, _ := strconv.Atoi(h.Get("X-Nomad-LastContact"))
		return code == 200 && h.Get("X-Nomad-KnownLeader") == "false" && time.Duration(lc)*time.Millisecond >= time.Since(killed)-time.Second,
			fmt.Sprintf("%d known=%s lastcontact=%s", code, h.Get("X-Nomad-KnownLeader"), h.Get("X-Nomad-LastContact"))
	})
	if code, _, body := request("GET", follower.addr()+"/v1/job/j", nil, nil, 10*time.Second); code != 500 {
		t.Fatalf("default read with no leader: %d %s", code, body)
	}
}
