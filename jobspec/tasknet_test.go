package jobspec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

func legacyNetJob(group, task2 string) string {
	return `job "j" {
  group "g" {
` + group + `
    task "web" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      service {
        name     = "web"
        port     = "http"
        provider = "nomad"
      }
      resources {
        network {
          mbits = 10
          port "http" {}
          port "admin" {
            static = 8081
            to     = 9000
          }
        }
      }
    }
` + task2 + `
  }
}
`
}

// TestTaskNetworkFolded: a task-level network's ports land in the group's
// host network on the HCL and the JSON path alike (a service of the task
// may use them); a block that would mean something else there is refused
// at its position with the reason.
func TestTaskNetworkFolded(t *testing.T) {
	check := func(t *testing.T, j *structs.Job, wantPorts int) {
		t.Helper()
		tg := j.TaskGroups[0]
		if len(tg.Networks) != 1 || tg.Networks[0].Mode != "host" {
			t.Fatalf("group networks %+v", tg.Networks)
		}
		n := tg.Networks[0]
		if len(n.ReservedPorts)+len(n.DynamicPorts) != wantPorts {
			t.Fatalf("group ports %+v %+v, want %d", n.ReservedPorts, n.DynamicPorts, wantPorts)
		}
		found := false
		for _, p := range n.ReservedPorts {
			found = found || (p == structs.Port{Label: "admin", Value: 8081, To: 9000})
		}
		if !found || n.DynamicPorts[len(n.DynamicPorts)-1].Label != "http" {
			t.Fatalf("group ports %+v %+v", n.ReservedPorts, n.DynamicPorts)
		}
		for _, task := range tg.Tasks {
			if len(task.Resources.Networks) != 0 {
				t.Fatalf("task %s keeps its network %+v", task.Name, task.Resources.Networks)
			}
		}
		if err := Validate(j); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("hcl", func(t *testing.T) {
		j, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(legacyNetJob("", ""))})
		if err != nil {
			t.Fatal(err)
		}
		check(t, j, 2)
		// Canonicalizing again (the API path of an -output document)
		// changes nothing.
		b, _ := json.Marshal(map[string]any{"Job": j})
		j2, err := ParseJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		check(t, j2, 2)
	})
	t.Run("host group network", func(t *testing.T) {
		j, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(legacyNetJob("network {\n  port \"db\" {}\n}", ""))})
		if err != nil {
			t.Fatal(err)
		}
		check(t, j, 3)
	})
	t.Run("json", func(t *testing.T) {
		doc := `{"Job":{"ID":"j","TaskGroups":[{"Name":"g","Tasks":[{"Name":"web","Driver":"raw_exec",
"Config":{"command":"/bin/true"},"Services":[{"Name":"web","PortLabel":"http","Provider":"nomad"}],
"Resources":{"CPU":100,"MemoryMB":64,"Networks":[{"MBits":10,"DynamicPorts":[{"Label":"http"}],
"ReservedPorts":[{"Label":"admin","Value":8081,"To":9000}]}]}}]}]}}`
		j, err := ParseJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		check(t, j, 2)
		// The API path: decode, CanonicalizeJSON, Validate.
		var env struct{ Job json.RawMessage }
		if err := json.Unmarshal([]byte(doc), &env); err != nil {
			t.Fatal(err)
		}
		var api structs.Job
		if err := json.Unmarshal(env.Job, &api); err != nil {
			t.Fatal(err)
		}
		CanonicalizeJSON(&api, env.Job)
		check(t, &api, 2)
	})

	other := `    task "side" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        network {
          port "http" {}
        }
      }
    }`
	for _, tc := range []struct{ name, group, task2, want string }{
		{"bridge group", `network { mode = "bridge" }`, "", `j.hcl:15:9: Unsupported block: group "g" -> task "web" -> resources -> network: the group's network is in mode "bridge"`},
		{"label of the group", "network {\n  port \"admin\" {}\n}", "", `j.hcl:17:9: Unsupported block: group "g" -> task "web" -> resources -> network: port label "admin" is also declared by the group's network`},
		{"label of another task", "", other, `task "side" -> resources -> network: port label "http" is also declared by task "web"`},
		{"dns", "", strings.Replace(other, `port "http" {}`, `dns { servers = ["192.0.2.1"] }`, 1), `a task-level network takes only mbits and port blocks`},
		{"mode", "", strings.Replace(other, `port "http" {}`, `mode = "bridge"`, 1), `a task-level network supports only mode "host", not "bridge"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(legacyNetJob(tc.group, tc.task2))})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
