package jobspec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// TestNomadAPICompat checks the wire format against Nomad's own Go client:
// a parsed job encoded to JSON, decoded into api.Job, re-encoded and decoded
// back must equal the original — nothing the parser produces is lost or
// reshaped on the way through a Nomad client.
func TestNomadAPICompat(t *testing.T) {
	for _, path := range corpus(t) {
		t.Run(path, func(t *testing.T) {
			job, err := Parse(ParseConfig{Path: path, DriverSpec: testDriverSpec, skipFieldCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(job)
			if err != nil {
				t.Fatal(err)
			}
			var nj nomad.Job
			if err := json.Unmarshal(b, &nj); err != nil {
				t.Fatalf("decode into nomad api.Job: %v", err)
			}
			if nj.ID == nil || *nj.ID != job.ID || len(nj.TaskGroups) != len(job.TaskGroups) {
				t.Fatalf("api.Job lost identity: %+v", nj)
			}
			b2, err := json.Marshal(&nj)
			if err != nil {
				t.Fatal(err)
			}
			var back structs.Job
			if err := json.Unmarshal(b2, &back); err != nil {
				t.Fatalf("decode back: %v", err)
			}
			// Config maps come back through JSON with float64 numbers; compare
			// both sides in that form.
			want := roundTrip(t, job)
			if !reflect.DeepEqual(want, &back) {
				wj, _ := json.MarshalIndent(want, "", " ")
				gj, _ := json.MarshalIndent(&back, "", " ")
				t.Fatalf("round trip through nomad api.Job changed the job:\n%s", firstDiff(string(wj), string(gj)))
			}
		})
	}
}

func roundTrip(t *testing.T, job *structs.Job) *structs.Job {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var out structs.Job
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			lo := max(0, i-5)
			return "want:\n" + strings.Join(al[lo:min(len(al), i+3)], "\n") + "\ngot:\n" + strings.Join(bl[lo:min(len(bl), i+3)], "\n")
		}
	}
	return "lengths differ"
}
