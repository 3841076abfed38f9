package jobspec

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/orch-project/orch/structs"
)

// benchJob is a canonicalized job with groups × tasks raw_exec tasks.
func benchJob(b *testing.B, groups, tasks int) []byte {
	b.Helper()
	job := &structs.Job{ID: "bench", Type: structs.JobTypeService, Datacenters: []string{"dc1"}}
	for g := 0; g < groups; g++ {
		tg := &structs.TaskGroup{Name: fmt.Sprintf("g%d", g), Count: 3,
			Networks:    []*structs.NetworkResource{{DynamicPorts: []structs.Port{{Label: "http", To: 8080}}}},
			Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "="}}}
		for t := 0; t < tasks; t++ {
			tg.Tasks = append(tg.Tasks, &structs.Task{Name: fmt.Sprintf("t%d", t), Driver: "raw_exec",
				Config: map[string]any{"command": "/bin/sleep", "args": []any{"1000"}},
				Env:    map[string]string{"A": "1", "B": "2"}, Meta: map[string]string{"k": "v"}})
		}
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	Canonicalize(job)
	raw, err := json.Marshal(job)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkValidate: the cost of the checks a job registration runs
// (field-state table walk and the rules), per job, on a decoded job.
func BenchmarkValidate(b *testing.B) {
	for _, size := range []struct{ groups, tasks int }{{1, 1}, {10, 3}, {100, 5}} {
		raw := benchJob(b, size.groups, size.tasks)
		var job structs.Job
		if err := json.Unmarshal(raw, &job); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("groups=%d/tasks=%d/table", size.groups, size.tasks), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if errs := checkFields(&job); len(errs) != 0 {
					b.Fatal(errs[0])
				}
			}
		})
		b.Run(fmt.Sprintf("groups=%d/tasks=%d/all", size.groups, size.tasks), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(&job); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
