package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/structs"
)

// raftAttacker speaks hashicorp/raft's wire protocol to an RPC port, as
// an unauthenticated host would: the protocol byte, then raft's RPCs.
type raftAttacker struct {
	trans *raft.NetworkTransport
}

type dialOnlyLayer struct{ done chan struct{} }

func (l *dialOnlyLayer) Accept() (net.Conn, error) { <-l.done; return nil, errors.New("closed") }
func (l *dialOnlyLayer) Close() error              { close(l.done); return nil }
func (l *dialOnlyLayer) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (l *dialOnlyLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{byte(rpcmux.ProtoRaft)}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newRaftAttacker(t *testing.T) *raftAttacker {
	t.Helper()
	layer := &dialOnlyLayer{done: make(chan struct{})}
	trans := raft.NewNetworkTransportWithLogger(layer, 1, 5*time.Second, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	t.Cleanup(func() { _ = trans.Close() })
	return &raftAttacker{trans: trans}
}

// injectJob sends one AppendEntries with a higher term carrying a job
// registration right after the server's last log entry, committed at once.
func (ra *raftAttacker) injectJob(rpcAddr string, lastIndex, lastTerm uint64, jobID string) error {
	job := &structs.Job{ID: jobID, Name: jobID, Namespace: "default", Type: structs.JobTypeBatch, Priority: 50,
		Datacenters: []string{"*"}, TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1,
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"}}}}}}
	data, err := raftfsm.Encode(raftfsm.JobRegisterType, &raftfsm.JobRegister{Job: job})
	if err != nil {
		return err
	}
	term := lastTerm + 10
	req := &raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("attacker"), Addr: []byte("127.0.0.1:1")},
		Term:         term,
		PrevLogEntry: lastIndex, PrevLogTerm: lastTerm,
		Entries:           []*raft.Log{{Index: lastIndex + 1, Term: term, Type: raft.LogCommand, Data: data}},
		LeaderCommitIndex: lastIndex + 1,
	}
	var resp raft.AppendEntriesResponse
	if err := ra.trans.AppendEntries(raft.ServerID(rpcAddr), raft.ServerAddress(rpcAddr), req, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return fmt.Errorf("append refused by raft (term %d)", resp.Term)
	}
	return nil
}

// raftPosition reads a server's last log index and term from agent/self.
func raftPosition(t *testing.T, a *agentProc) (uint64, uint64) {
	t.Helper()
	var self struct {
		Stats map[string]map[string]string `json:"stats"`
	}
	if err := getJSON(a.addr()+"/v1/agent/self", &self); err != nil {
		t.Fatal(err)
	}
	idx, _ := strconv.ParseUint(self.Stats["raft"]["last_log_index"], 10, 64)
	term, _ := strconv.ParseUint(self.Stats["raft"]["last_log_term"], 10, 64)
	return idx, term
}

// Issue 8, attack 3, on an agent without TLS (the default, and the only
// mode orch had): one unauthenticated AppendEntries to the RPC port injects
// a job that was never validated. The secure cluster test shows the same
// attacker refused once tls { rpc } is on.
func TestAttackRaftInjectionWithoutTLS(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-server", "-bootstrap-expect", "1")
	waitReady(t, a, 0)
	time.Sleep(500 * time.Millisecond)
	idx, term := raftPosition(t, a)
	if err := newRaftAttacker(t).injectJob(a.ip+":4647", idx, term, "injected"); err != nil {
		t.Fatalf("the plaintext attack failed (it should work without TLS): %v", err)
	}
	waitFor(t, 10*time.Second, "the injected job", func() (bool, string) {
		var job structs.Job
		err := getJSON(a.addr()+"/v1/job/injected", &job)
		return err == nil && job.ID == "injected", fmt.Sprint(err)
	})
}
