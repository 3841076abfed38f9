package server

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// A task's workload identity: signed for the node running it only, accepted
// as a token with the implicit workload policy (its job's variables) while
// the allocation runs, refused once it has finished or when tampered with.
func TestWorkloadIdentitySignAndResolve(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	waitUntil(t, 10*time.Second, "an active root key", func() bool {
		_, err := s.keyring.Active(s.State().Snapshot())
		return err == nil
	})
	node := testNode("n1", 4000, 4096)
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	job := testJob("web", 1, 64)
	job.TaskGroups[0].Tasks[0].Identity = &structs.WorkloadIdentity{Env: true, File: true}
	plain := &structs.Task{Name: "plain", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
		Resources: &structs.Resources{CPU: 50, MemoryMB: 32}}
	job.TaskGroups[0].Tasks = append(job.TaskGroups[0].Tasks, plain)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the allocation", func() bool { return len(liveAllocs(t, s, "web")) == 1 })
	alloc := liveAllocs(t, s, "web")[0]

	if _, err := s.SignIdentities(structs.GenerateUUID(), alloc.ID, []string{"t"}); !errors.Is(err, ErrIdentityRefused) {
		t.Fatalf("another node got the identity: %v", err)
	}
	jwts, err := s.SignIdentities(node.ID, alloc.ID, []string{"t", "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := jwts["plain"]; ok || jwts["t"] == "" {
		t.Fatalf("identities: %v", jwts)
	}
	jwt := jwts["t"]
	r := s.ACLResolver()
	tok, a, err := r.Resolve(ctx, jwt)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if w := a.Workload(); w == nil || w.JobID != "web" || w.Group != "g" || w.Task != "t" || !strings.Contains(tok.Name, "web") {
		t.Fatalf("workload: %+v %+v", w, tok)
	}
	for path, want := range map[string]bool{
		"nomad/jobs": true, "nomad/jobs/web": true, "nomad/jobs/web/g": true, "nomad/jobs/web/g/t": true,
		"nomad/jobs/web/g/other": false, "nomad/jobs/api": false, "app/config": false,
	} {
		if got := a.AllowVariableOperation("default", path, acl.VariablesCapabilityRead); got != want {
			t.Errorf("read %s: %v, want %v", path, got, want)
		}
	}
	if a.AllowVariableOperation("default", "nomad/jobs/web", acl.VariablesCapabilityWrite) ||
		a.AllowVariableOperation("other", "nomad/jobs/web", acl.VariablesCapabilityRead) ||
		a.AllowNamespaceOperation("default", acl.NamespaceCapabilityReadJob) {
		t.Error("the workload policy grants more than its job's variables")
	}
	// A policy attached to the job widens it.
	if _, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "web-extra", Rules: `node { policy = "read" }`,
		JobACL: &structs.JobACL{Namespace: "default", JobID: "web"}}}); err != nil {
		t.Fatal(err)
	}
	if _, a, err := r.Resolve(ctx, jwt); err != nil || !a.AllowNodeRead() {
		t.Fatalf("JobACL policy not applied: %v", err)
	}

	// Tampering: another payload under the same signature, "alg: none".
	parts := strings.Split(jwt, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"nomad_job_id":"api","nomad_allocation_id":"`+alloc.ID+`","aud":["nomadproject.io"]}`)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	for name, bad := range map[string]string{"forged claims": forged, "alg none": none} {
		if _, _, err := r.Resolve(ctx, bad); !errors.Is(err, acl.ErrTokenInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Once the allocation has finished, its identity stops working.
	done := &structs.Allocation{ID: alloc.ID, ClientStatus: structs.AllocClientStatusComplete}
	if _, err := s.UpdateAllocsFromClient(ctx, []*structs.Allocation{done}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Resolve(ctx, jwt); !errors.Is(err, acl.ErrTokenInvalid) {
		t.Fatalf("identity of a finished allocation: %v", err)
	}
	if _, err := s.SignIdentities(node.ID, alloc.ID, []string{"t"}); !errors.Is(err, ErrIdentityRefused) {
		t.Fatalf("signed for a finished allocation: %v", err)
	}
}

// TestSignIdentitiesWaitsForFirstRootKey: on a new cluster an allocation
// can ask for its workload identity before the leader made its first root
// key; the call waits for the key instead of failing the task with "no
// active root key yet".
func TestSignIdentitiesWaitsForFirstRootKey(t *testing.T) {
	hold := make(chan struct{})
	s := testServerWith(t, t.TempDir(), func(c *Config) { c.NumWorkers, c.keyringHold = 1, hold })
	ctx := context.Background()
	node := testNode("n1", 4000, 4096)
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	job := testJob("web", 1, 64)
	job.TaskGroups[0].Tasks[0].Identity = &structs.WorkloadIdentity{Env: true}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the allocation", func() bool { return len(liveAllocs(t, s, "web")) == 1 })
	alloc := liveAllocs(t, s, "web")[0]
	if _, err := s.keyring.Active(s.State().Snapshot()); err == nil {
		t.Fatal("a root key exists although the keyring loop is held")
	}
	c := control.NewClient(control.ClientConfig{Servers: []string{s.RaftAddr()},
		Credentials: func() control.Credentials { return control.Credentials{NodeID: node.ID, Secret: node.SecretID} }})
	defer c.Close()
	done := make(chan error, 1)
	var resp control.SignIdentitiesResponse
	go func() {
		_, err := c.Call(ctx, control.MethodSignIdentities, &control.SignIdentitiesRequest{AllocID: alloc.ID, Tasks: []string{"t"}}, &resp)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the call did not wait for the first root key: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(hold)
	select {
	case err := <-done:
		if err != nil || resp.Identities["t"] == "" {
			t.Fatalf("identity after the first key: %v %v", err, resp.Identities)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer after the first root key")
	}
}
