package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestClientWatchReturnsModifyIndexesAndFetchesByID(t *testing.T) {
	ta := newTestAgent(t)
	node := ta.addNode(t, "n1", "")
	if code, _, body := do(t, "PUT", ta.srv.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("web", 2)}); code != 200 {
		t.Fatalf("register: %d %s", code, body)
	}
	var mods map[string]uint64
	h := getJSON(t, ta.srv.URL+"/v1/internal/node/"+node.ID+"/allocs", &mods)
	if len(mods) != 2 || h.Get("X-Nomad-Index") == "" {
		t.Fatalf("watch answered %v (index %q), want 2 allocations", mods, h.Get("X-Nomad-Index"))
	}
	ids := []string{"no-such-alloc"}
	for id, mod := range mods {
		if mod == 0 {
			t.Fatalf("alloc %s has AllocModifyIndex 0", id)
		}
		ids = append(ids, id)
	}
	code, _, body := do(t, "POST", ta.srv.URL+"/v1/internal/allocs/get", &structs.AllocsGetRequest{AllocIDs: ids})
	if code != 200 {
		t.Fatalf("allocs/get: %d %s", code, body)
	}
	var allocs []*structs.Allocation
	if err := json.Unmarshal(body, &allocs); err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 2 {
		t.Fatalf("got %d allocations, want the 2 known ones", len(allocs))
	}
	for _, a := range allocs {
		if a.Job == nil || mods[a.ID] != a.AllocModifyIndex {
			t.Fatalf("alloc %s: job %v, AllocModifyIndex %d vs %d", a.ID, a.Job != nil, a.AllocModifyIndex, mods[a.ID])
		}
	}
	if code, _, _ := do(t, "POST", ta.srv.URL+"/v1/internal/allocs/get", "not an object"); code != 400 {
		t.Fatalf("bad body answered %d, want 400", code)
	}
}
