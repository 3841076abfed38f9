package jobspec

import (
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
)

// A migrate block works on service jobs (the node drainer moves their
// allocations by it) and is refused elsewhere, with its position in HCL
// and its path in JSON: batch work is not migrated.
func TestMigrateOnlyServiceJobs(t *testing.T) {
	src := func(typ string) string {
		return `job "web" {
  type = "` + typ + `"
  migrate {
    max_parallel = 2
  }
  group "g" {
    migrate {
      min_healthy_time = "1s"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
`
	}
	job, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src("service"))})
	if err != nil {
		t.Fatalf("service job with migrate refused: %v", err)
	}
	if m := job.TaskGroups[0].Migrate; m.MaxParallel != 2 || m.MinHealthyTime.Seconds() != 1 || m.HealthCheck != "checks" {
		t.Fatalf("merged migrate block: %+v", m)
	}
	_, err = Parse(ParseConfig{Path: "job.hcl", Body: []byte(src("batch"))})
	for _, want := range []string{
		`job.hcl:3:3: Unsupported block: migrate: migrate blocks are only supported for service jobs`,
		// The group's block merged with the job's: reported at its group.
		`job.hcl:6:3: Unsupported block: group "g" -> migrate: migrate blocks are only supported for service jobs`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("batch job with migrate: missing %q in:\n%v", want, err)
		}
	}

	nj := nomadJob("batch")
	nj.TaskGroups[0].Migrate = &nomad.MigrateStrategy{MaxParallel: ptr(2)}
	nj.Canonicalize()
	if err := Validate(decodeNomad(t, nj)); err == nil ||
		!strings.Contains(err.Error(), `group "g" -> migrate: migrate blocks are only supported for service jobs`) {
		t.Fatalf("batch job with migrate over JSON: %v", err)
	}
}
