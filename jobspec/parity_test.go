package jobspec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// parityHCL is a typical Nomad service job using only features orch
// supports.
const parityHCL = `job "web" {
  datacenters = ["dc1", "dc2"]
  type        = "service"
  priority    = 70

  update {
    max_parallel     = 2
    min_healthy_time = "15s"
    auto_revert      = true
  }

  group "frontend" {
    count = 3

    network {
      port "http" {
        to = 8080
      }
      port "metrics" {
        static = 9100
      }
    }

    restart {
      attempts = 5
      delay    = "10s"
    }

    ephemeral_disk {
      size = 500
    }

    service {
      name = "web-frontend"
      port = "http"
      tags = ["web", "v1"]

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "server" {
      driver       = "docker"
      kill_timeout = "20s"

      config {
        image = "nginx:1.27"
        ports = ["http"]
      }

      env {
        MODE = "production"
      }

      resources {
        cpu    = 500
        memory = 256
      }

      logs {
        max_files     = 3
        max_file_size = 20
      }
    }
  }
}
`

func ptr[T any](v T) *T { return &v }

// nomadParsed is the api.Job Nomad's HCL parser yields for parityHCL (what
// `nomad job run -output` prints): what the file sets, everything else null.
func nomadParsed() *nomad.Job {
	return &nomad.Job{
		ID: ptr("web"), Name: ptr("web"), Type: ptr("service"), Priority: ptr(70),
		Datacenters: []string{"dc1", "dc2"},
		Update:      &nomad.UpdateStrategy{MaxParallel: ptr(2), MinHealthyTime: ptr(15 * time.Second), AutoRevert: ptr(true)},
		TaskGroups: []*nomad.TaskGroup{{
			Name: ptr("frontend"), Count: ptr(3),
			Networks: []*nomad.NetworkResource{{
				DynamicPorts:  []nomad.Port{{Label: "http", To: 8080}},
				ReservedPorts: []nomad.Port{{Label: "metrics", Value: 9100}},
			}},
			RestartPolicy: &nomad.RestartPolicy{Attempts: ptr(5), Delay: ptr(10 * time.Second)},
			EphemeralDisk: &nomad.EphemeralDisk{SizeMB: ptr(500)},
			Services: []*nomad.Service{{
				Name: "web-frontend", PortLabel: "http", Tags: []string{"web", "v1"},
				Checks: []nomad.ServiceCheck{{Type: "http", Path: "/health", Interval: 10 * time.Second, Timeout: 2 * time.Second}},
			}},
			Tasks: []*nomad.Task{{
				Name: "server", Driver: "docker", KillTimeout: ptr(20 * time.Second),
				Config:    map[string]any{"image": "nginx:1.27", "ports": []any{"http"}},
				Env:       map[string]string{"MODE": "production"},
				Resources: &nomad.Resources{CPU: ptr(500), MemoryMB: ptr(256)},
				LogConfig: &nomad.LogConfig{MaxFiles: ptr(3), MaxFileSizeMB: ptr(20)},
			}},
		}},
	}
}

// serverFilled lists fields where an empty value in Nomad's output means
// "unset, the server decides": orch's -output shows the decision instead.
var serverFilled = map[string]bool{"Mode": true, "AddressMode": true, "OnUpdate": true, "Provider": true, "NodePool": true}

// consulOnly are defaults Nomad's client fills for Consul, which orch does
// not have: services default to orch's own catalog ("nomad") rather than
// "consul", and there is no Consul cluster to name.
var consulOnly = map[string]bool{"Provider": true, "Cluster": true}

// TestParityWithNomadOutput checks the acceptance rule: every non-null
// field of Nomad's parse of the file, and of that parse after the Nomad
// client's own Canonicalize, has the same value in orch's parsed job.
func TestParityWithNomadOutput(t *testing.T) {
	job, err := Parse(ParseConfig{Path: "web.nomad.hcl", Body: []byte(parityHCL), DriverSpec: testDriverSpec, skipFieldCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(job, false); err != nil {
		t.Fatal(err)
	}
	got := toTree(t, job)

	parsed := nomadParsed()
	if diffs := compareNonNull("", toTree(t, parsed), got, nil); len(diffs) > 0 {
		t.Errorf("differs from nomad's parse:\n%s", strings.Join(diffs, "\n"))
	}
	canon := nomadParsed()
	canon.Canonicalize()
	want := toTree(t, canon)
	if diffs := compareNonNull("", want, got, consulOnly); len(diffs) > 0 {
		t.Errorf("differs from nomad's parse after api Canonicalize:\n%s", strings.Join(diffs, "\n"))
	}
	// The comparison must see defaults deep in the tree.
	job.TaskGroups[0].Tasks[0].RestartPolicy.Interval++
	if diffs := compareNonNull("", want, toTree(t, job), consulOnly); len(diffs) != 1 || !strings.Contains(diffs[0], "RestartPolicy.Interval") {
		t.Fatalf("a changed default went unnoticed: %q", diffs)
	}
}

const parityBatchHCL = `job "nightly" {
  type = "batch"

  reschedule {
    attempts = 3
  }

  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/backup"
        args    = ["--all"]
      }
    }
  }
}
`

// TestParityBatchDefaults compares a batch job's defaults with the Nomad
// client's Canonicalize of the same parse.
func TestParityBatchDefaults(t *testing.T) {
	job, err := Parse(ParseConfig{Path: "nightly.nomad.hcl", Body: []byte(parityBatchHCL), DriverSpec: testDriverSpec})
	if err != nil {
		t.Fatal(err)
	}
	nj := &nomad.Job{
		ID: ptr("nightly"), Name: ptr("nightly"), Type: ptr("batch"),
		Reschedule: &nomad.ReschedulePolicy{Attempts: ptr(3)},
		TaskGroups: []*nomad.TaskGroup{{Name: ptr("g"), Tasks: []*nomad.Task{{
			Name: "t", Driver: "raw_exec",
			Config: map[string]any{"command": "/usr/local/bin/backup", "args": []any{"--all"}},
		}}}},
	}
	nj.Canonicalize()
	if diffs := compareNonNull("", toTree(t, nj), toTree(t, job), consulOnly); len(diffs) > 0 {
		t.Errorf("differs from nomad's canonical batch job:\n%s", strings.Join(diffs, "\n"))
	}
}

func toTree(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareNonNull walks want and reports every non-null leaf whose value in
// got differs; a key absent from got counts as its zero value.
func compareNonNull(path string, want, got any, skip map[string]bool) []string {
	switch w := want.(type) {
	case nil:
		return nil
	case map[string]any:
		g, _ := got.(map[string]any)
		var diffs []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if serverFilled[k] && isZero(w[k]) || skip[k] {
				continue
			}
			diffs = append(diffs, compareNonNull(path+"."+k, w[k], g[k], skip)...)
		}
		return diffs
	case []any:
		g, _ := got.([]any)
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: nomad has %d elements, orch %d", path, len(w), len(g))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, compareNonNull(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], skip)...)
		}
		return diffs
	default:
		if got == nil && isZero(want) {
			return nil
		}
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: nomad %v, orch %v", path, want, got)}
		}
		return nil
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	}
	return false
}

// TestJSONCanonicalizedAsHCL: the API JSON Nomad's own parser makes of a
// file (most fields null) gets exactly the defaults the HCL path gives the
// file itself.
func TestJSONCanonicalizedAsHCL(t *testing.T) {
	for name, tc := range map[string]struct {
		hcl  string
		json *nomad.Job
	}{
		"service": {parityHCL, nomadParsed()},
		"batch": {parityBatchHCL, &nomad.Job{
			ID: ptr("nightly"), Name: ptr("nightly"), Type: ptr("batch"),
			Reschedule: &nomad.ReschedulePolicy{Attempts: ptr(3)},
			TaskGroups: []*nomad.TaskGroup{{Name: ptr("g"), Tasks: []*nomad.Task{{
				Name: "t", Driver: "raw_exec",
				Config: map[string]any{"command": "/usr/local/bin/backup", "args": []any{"--all"}},
			}}}},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			fromHCL, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(tc.hcl), skipFieldCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(map[string]any{"Job": tc.json})
			fromJSON, err := ParseJSON(b)
			if err != nil {
				t.Fatal(err)
			}
			want, got := toTree(t, fromHCL), toTree(t, fromJSON)
			if !reflect.DeepEqual(want, got) {
				wj, _ := json.MarshalIndent(want, "", " ")
				gj, _ := json.MarshalIndent(got, "", " ")
				t.Fatalf("JSON canonicalized differently from HCL:\n%s", firstDiff(string(wj), string(gj)))
			}
		})
	}
}

// A null in Nomad's JSON means "use the default": a reschedule policy with
// a delay and a null max_delay is valid, and takes the default max delay.
func TestJSONNullMeansDefault(t *testing.T) {
	job, err := ParseJSON([]byte(`{"Job":{"ID":"n","Type":"service","TaskGroups":[{"Name":"g","Count":null,
	  "ReschedulePolicy":{"Delay":10000000000,"MaxDelay":null,"DelayFunction":null,"Attempts":null,"Unlimited":null},
	  "Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"CPU":null,"MemoryMB":null}}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(job); err != nil {
		t.Fatal(err)
	}
	tg := job.TaskGroups[0]
	if r := tg.ReschedulePolicy; r.Delay != 10*time.Second || r.MaxDelay != time.Hour || r.DelayFunction != "exponential" || !r.Unlimited {
		t.Fatalf("reschedule %+v", r)
	}
	if tg.Count != 1 || tg.Tasks[0].Resources.CPU != 100 || tg.Tasks[0].Resources.MemoryMB != 300 {
		t.Fatalf("count %d, resources %+v", tg.Count, tg.Tasks[0].Resources)
	}
	// An explicit zero where zero means something is kept.
	job, err = ParseJSON([]byte(`{"ID":"z","Type":"service","TaskGroups":[{"Name":"g","Count":0,
	  "ReschedulePolicy":{"Delay":10000000000,"MaxDelay":0,"DelayFunction":"constant","Unlimited":false,"Attempts":0},
	  "Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tg := job.TaskGroups[0]; tg.Count != 0 || tg.ReschedulePolicy.Attempts != 0 || tg.ReschedulePolicy.Unlimited {
		t.Fatalf("explicit zeros lost: count %d, %+v", tg.Count, tg.ReschedulePolicy)
	}
}
