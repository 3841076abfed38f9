package jobdiff

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func baseJob() *structs.Job {
	return &structs.Job{
		ID: "web", Name: "web", Namespace: "default", Type: "service", Priority: 50, Datacenters: []string{"dc1"},
		Update: &structs.UpdateStrategy{MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: 10 * time.Second},
		TaskGroups: []*structs.TaskGroup{
			{Name: "app", Count: 2, Tasks: []*structs.Task{{
				Name: "srv", Driver: "docker", Env: map[string]string{"A": "1"},
				Config:    map[string]any{"image": "web:1", "args": []any{"-p", "80"}},
				Resources: &structs.Resources{CPU: 100, MemoryMB: 128},
			}}},
			{Name: "old", Count: 1, Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec"}}},
		},
		Version: 3, JobModifyIndex: 10, Status: "running",
	}
}

func field(fs []*structs.FieldDiff, name string) *structs.FieldDiff {
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func object(os []*structs.ObjectDiff, name string) *structs.ObjectDiff {
	for _, o := range os {
		if o.Name == name {
			return o
		}
	}
	return nil
}

func TestIdenticalJobsHaveNoDiff(t *testing.T) {
	a, b := baseJob(), baseJob()
	b.Version, b.JobModifyIndex, b.Status = 4, 99, "pending" // server-maintained
	d := Jobs(a, b, false)
	if d.Type != structs.DiffTypeNone || len(d.Fields) != 0 || len(d.Objects) != 0 {
		t.Fatalf("diff of identical specs: %+v", d)
	}
	for _, g := range d.TaskGroups {
		if g.Type != structs.DiffTypeNone {
			t.Fatalf("group %s: %s", g.Name, g.Type)
		}
	}
}

func TestJobDiffShape(t *testing.T) {
	old, new := baseJob(), baseJob()
	new.Priority = 70
	new.Meta = map[string]string{"team": "a"}
	new.Datacenters = []string{"dc1", "dc2"}
	new.Update.MaxParallel = 2
	app := new.TaskGroups[0]
	app.Count = 3
	app.Tasks[0].Env["A"] = "2"
	app.Tasks[0].Config = map[string]any{"image": "web:2", "args": []any{"-p", "80"}}
	app.Tasks = append(app.Tasks, &structs.Task{Name: "side", Driver: "raw_exec"})
	new.TaskGroups = []*structs.TaskGroup{app, {Name: "fresh", Count: 1, Tasks: []*structs.Task{{Name: "x", Driver: "exec"}}}}

	d := Jobs(old, new, false)
	if d.Type != structs.DiffTypeEdited || d.ID != "web" {
		t.Fatalf("job diff %s %s", d.Type, d.ID)
	}
	if f := field(d.Fields, "Priority"); f == nil || f.Type != structs.DiffTypeEdited || f.Old != "50" || f.New != "70" {
		t.Fatalf("Priority: %+v", f)
	}
	if f := field(d.Fields, "Meta[team]"); f == nil || f.Type != structs.DiffTypeAdded || f.New != "a" {
		t.Fatalf("Meta[team]: %+v", f)
	}
	dc := object(d.Objects, "Datacenters")
	if dc == nil || dc.Type != structs.DiffTypeEdited || len(dc.Fields) != 1 || dc.Fields[0].New != "dc2" {
		t.Fatalf("Datacenters: %+v", dc)
	}
	up := object(d.Objects, "Update")
	if up == nil || field(up.Fields, "MaxParallel") == nil || field(up.Fields, "HealthCheck") != nil {
		t.Fatalf("Update (without context): %+v", up)
	}
	byName := map[string]*structs.TaskGroupDiff{}
	for _, g := range d.TaskGroups {
		byName[g.Name] = g
	}
	if byName["old"].Type != structs.DiffTypeDeleted || byName["fresh"].Type != structs.DiffTypeAdded {
		t.Fatalf("groups: old %s, fresh %s", byName["old"].Type, byName["fresh"].Type)
	}
	g := byName["app"]
	if f := field(g.Fields, "Count"); g.Type != structs.DiffTypeEdited || f == nil || f.Old != "2" || f.New != "3" {
		t.Fatalf("app: %s %+v", g.Type, f)
	}
	tasks := map[string]*structs.TaskDiff{}
	for _, td := range g.Tasks {
		tasks[td.Name] = td
	}
	if tasks["side"].Type != structs.DiffTypeAdded {
		t.Fatalf("side: %s", tasks["side"].Type)
	}
	srv := tasks["srv"]
	if f := field(srv.Fields, "Env[A]"); srv.Type != structs.DiffTypeEdited || f == nil || f.Old != "1" || f.New != "2" {
		t.Fatalf("srv env: %+v", srv.Fields)
	}
	cfg := object(srv.Objects, "Config")
	if f := field(cfg.Fields, "image"); f == nil || f.Old != "web:1" || f.New != "web:2" || field(cfg.Fields, "args[0]") != nil {
		t.Fatalf("srv config: %+v", cfg.Fields)
	}
	// The wire form is Nomad's.
	b, _ := json.Marshal(d)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["Type"] != "Edited" || back["TaskGroups"] == nil {
		t.Fatalf("JSON %s", b)
	}
}

func TestContextualDiffShowsUnchangedFields(t *testing.T) {
	old, new := baseJob(), baseJob()
	new.TaskGroups[0].Tasks[0].Config = map[string]any{"image": "web:2", "args": []any{"-p", "80"}}
	d := Jobs(old, new, true)
	if f := field(d.Fields, "Priority"); f == nil || f.Type != structs.DiffTypeNone {
		t.Fatalf("contextual Priority: %+v", f)
	}
	srv := d.TaskGroups[0].Tasks[0]
	cfg := object(srv.Objects, "Config")
	if f := field(cfg.Fields, "args[1]"); f == nil || f.Type != structs.DiffTypeNone || f.New != "80" {
		t.Fatalf("contextual args[1]: %+v", cfg.Fields)
	}
	if f := field(cfg.Fields, "image"); f == nil || f.Type != structs.DiffTypeEdited {
		t.Fatalf("image: %+v", f)
	}
}

func TestNewJobIsAllAdded(t *testing.T) {
	d := Jobs(nil, baseJob(), false)
	if d.Type != structs.DiffTypeAdded || len(d.TaskGroups) != 2 || d.TaskGroups[0].Type != structs.DiffTypeAdded {
		t.Fatalf("new job: %+v", d)
	}
	if f := field(d.Fields, "Priority"); f == nil || f.Type != structs.DiffTypeAdded || f.New != "50" {
		t.Fatalf("Priority: %+v", f)
	}
	if srv := d.TaskGroups[0].Tasks[0]; srv.Type != structs.DiffTypeAdded || object(srv.Objects, "Resources") == nil {
		t.Fatalf("task: %+v", srv)
	}
}
