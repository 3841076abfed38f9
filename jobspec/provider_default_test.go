package jobspec

import (
	"slices"
	"testing"

	"github.com/orch-project/orch/structs"
)

// consulJob has two group services and one task service, all "consul"
// (as nomad/api's Canonicalize sends them); cluster is their Cluster.
func consulJob(cluster string) *structs.Job {
	svc := func(n string) *structs.Service {
		return &structs.Service{Name: n, Provider: "consul", Cluster: cluster}
	}
	return &structs.Job{ID: "j", Name: "j", TaskGroups: []*structs.TaskGroup{{
		Name:     "g",
		Services: []*structs.Service{svc("a"), svc("b")},
		Tasks:    []*structs.Task{{Name: "t", Services: []*structs.Service{svc("c")}}},
	}}}
}

func providers(j *structs.Job) []string {
	var out []string
	forEachService(j, func(_ string, s *structs.Service, _ servicePos) { out = append(out, s.Provider) })
	return out
}

func TestUndoClientConsulDefault(t *testing.T) {
	src := func(b string) *structs.JobSubmission {
		return &structs.JobSubmission{Format: "hcl2", Source: `job "j" {
  group "g" {
    service { name = "a" }
    service {
      name = "b"
` + b + `
    }
    task "t" {
      service { name = "c" }
    }
  }
}`}
	}
	cases := []struct {
		name     string
		cluster  string
		sub      *structs.JobSubmission
		want     []string
		warnings int
	}{
		{"source without provider", "default", src(""), []string{"nomad", "nomad", "nomad"}, 0},
		{"source writes consul on b", "default", src(`provider = "consul"`), []string{"nomad", "consul", "nomad"}, 0},
		{"source writes a variable", "default", src(`provider = var.p`), []string{"nomad", "consul", "nomad"}, 0},
		{"no source, library mark", "default", nil, []string{"nomad", "nomad", "nomad"}, 3},
		{"no source, hand-written", "", nil, []string{"consul", "consul", "consul"}, 0},
		{"json source", "default", &structs.JobSubmission{Format: "json", Source: "{}"}, []string{"nomad", "nomad", "nomad"}, 3},
		{"dynamic service blocks fall back", "", &structs.JobSubmission{Format: "hcl2", Source: `job "j" {
  group "g" {
    dynamic "service" {
      for_each = ["a", "b"]
      content { name = service.value }
    }
    task "t" {
      service { name = "c" }
    }
  }
}`}, []string{"consul", "consul", "consul"}, 0},
		{"unparsable source falls back", "default", &structs.JobSubmission{Format: "hcl2", Source: "job {"}, []string{"nomad", "nomad", "nomad"}, 3},
	}
	for _, c := range cases {
		j := consulJob(c.cluster)
		w := UndoClientConsulDefault(j, c.sub)
		if got := providers(j); !slices.Equal(got, c.want) || len(w) != c.warnings {
			t.Errorf("%s: providers %v warnings %q, want %v and %d warnings", c.name, got, w, c.want, c.warnings)
		}
	}
	// Other providers are never touched.
	j := consulJob("default")
	j.TaskGroups[0].Services[0].Provider = "nomad"
	if w := UndoClientConsulDefault(j, nil); len(w) != 2 || j.TaskGroups[0].Services[0].Provider != "nomad" {
		t.Fatalf("mixed: %v %v", providers(j), w)
	}
}
