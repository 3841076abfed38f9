package jobspec

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// modelFields lists "Type.Field" for every field of every struct of the
// job model reachable from structs.Job, in a stable order.
func modelFields() []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if !isModelType(t) || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			out = append(out, t.Name()+"."+t.Field(i).Name)
		}
		for i := 0; i < t.NumField(); i++ {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeOf(structs.Job{}))
	return out
}

// repoTests returns the names of every Test function in the repository.
func repoTests(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				out[fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFieldTable keeps the field-state table complete and honest: every
// field of the job model has a row, every row names a field, a working
// field names tests that exist, and a refused one says why.
func TestFieldTable(t *testing.T) {
	fields := modelFields()
	have := map[string]bool{}
	for _, f := range fields {
		have[f] = true
		if _, ok := fieldTable[f]; !ok {
			t.Errorf("%s has no row in the field-state table (jobspec/fields.go): decide whether it works (with its test) or is refused", f)
		}
	}
	tests := repoTests(t)
	for key, row := range fieldTable {
		if !have[key] {
			t.Errorf("row %s names no field of the job model", key)
		}
		switch row.State {
		case Works:
			if len(row.Tests) == 0 {
				t.Errorf("%s works but names no test", key)
			}
			for _, name := range row.Tests {
				if !tests[name] {
					t.Errorf("%s names test %s, which does not exist", key, name)
				}
			}
		case Refused:
			if row.Msg == "" {
				t.Errorf("%s is refused without a message", key)
			}
		case Part, Server, Deprecated:
		default:
			t.Errorf("%s has no state", key)
		}
		if row.State != Refused && (row.accept != nil || row.why != nil) {
			t.Errorf("%s: accept/why only apply to refused rows", key)
		}
	}
}

// TestNomadAPIFieldsModelled: every field of Nomad's job JSON (as
// github.com/hashicorp/nomad/api defines it) exists in the job model, so
// the JSON decoder never drops a field a client sends: it is either acted
// on or refused by the table.
func TestNomadAPIFieldsModelled(t *testing.T) {
	jsonFields := func(t reflect.Type) map[string]reflect.Type {
		out := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.IsExported() && f.Tag.Get("json") != "-" {
				out[jsonName(f)] = f.Type
			}
		}
		return out
	}
	elem := func(t reflect.Type) reflect.Type {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		return t
	}
	seen := map[[2]reflect.Type]bool{}
	var cmp func(path string, nt, ot reflect.Type)
	cmp = func(path string, nt, ot reflect.Type) {
		nt, ot = elem(nt), elem(ot)
		if nt.Kind() != reflect.Struct || !isModelType(ot) || seen[[2]reflect.Type{nt, ot}] {
			return
		}
		seen[[2]reflect.Type{nt, ot}] = true
		ours := jsonFields(ot)
		theirs := jsonFields(nt)
		names := make([]string, 0, len(theirs))
		for n := range theirs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			of, ok := ours[n]
			if !ok {
				t.Errorf("%s.%s (Nomad API %s) is not in the job model: add it to package structs and a row to the field-state table", path, n, theirs[n])
				continue
			}
			cmp(path+"."+n, theirs[n], of)
		}
	}
	cmp("Job", reflect.TypeOf(nomad.Job{}), reflect.TypeOf(structs.Job{}))
}

// TestFieldDocs keeps docs/job-fields.md generated from the table.
func TestFieldDocs(t *testing.T) {
	got := []byte(FieldDocs())
	path := filepath.Join("..", "docs", "job-fields.md")
	readmePath := filepath.Join("..", "README.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		readme, err := os.ReadFile(readmePath)
		if err != nil {
			t.Fatal(err)
		}
		begin := bytes.Index(readme, []byte("<!-- job-fields:begin"))
		endMark := []byte("<!-- job-fields:end -->\n")
		end := bytes.Index(readme, endMark)
		if begin < 0 || end < begin {
			t.Fatal("README.md lacks the job-fields markers")
		}
		out := append(append(append([]byte(nil), readme[:begin]...), FieldSummary()...), readme[end+len(endMark):]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (regenerate: go test ./jobspec -run TestFieldDocs -update): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: regenerate with go test ./jobspec -run TestFieldDocs -update", path)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(FieldSummary())) {
		t.Errorf("README.md's job-file feature list differs from the field-state table; regenerate with go test ./jobspec -run TestFieldDocs -update:\n%s", FieldSummary())
	}
}

// refusedCase is a job built through Nomad's own API client, as the stock
// CLI and Go programs send it, with one refused field set.
type refusedCase struct {
	name string
	set  func(j *nomad.Job)
	want string
}

func nomadJob(typ string) *nomad.Job {
	j := nomad.NewServiceJob("web", "web", "global", 50)
	j.Type = &typ
	tg := nomad.NewTaskGroup("g", 1)
	task := nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/true")
	tg.AddTask(task)
	j.AddTaskGroup(tg)
	return j
}

// A job built with nomad/api and its Canonicalize (which writes Nomad's
// defaults: update and migrate strategies, restart and reschedule
// policies, ephemeral disk, log config...) is accepted: restating a
// default asks for nothing orch lacks.
func TestCanonicalizedNomadJobAccepted(t *testing.T) {
	for _, typ := range []string{"service", "batch", "system", "sysbatch"} {
		nj := nomadJob(typ)
		nj.Canonicalize()
		job := decodeNomad(t, nj)
		if err := Validate(job); err != nil {
			t.Errorf("%s job from nomad/api + Canonicalize refused:\n%v", typ, err)
		}
	}
}

func decodeNomad(t *testing.T, nj *nomad.Job) *structs.Job {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Job": nj})
	if err != nil {
		t.Fatal(err)
	}
	job, err := ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// The same refusals come back for JSON, with the field's path.
func TestRefusedFieldsOverJSON(t *testing.T) {
	cases := []refusedCase{
		{"template with a Vault function", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*nomad.Template{{EmbeddedTmpl: ptr(`{{ with secret "kv/x" }}{{ .Data }}{{ end }}`), DestPath: ptr("local/x")}}
		}, `group "g" -> task "t" -> template[0]: function "secret": Vault is not available`},
		{"consul provider", func(j *nomad.Job) {
			j.TaskGroups[0].Services = []*nomad.Service{{Name: "s", Provider: "consul"}}
		}, `group "g" -> service "s" -> provider: Consul is not available`},
		{"vault", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Vault = &nomad.Vault{Policies: []string{"p"}}
		}, `group "g" -> task "t" -> vault: Vault is not available`},
		{"consul group", func(j *nomad.Job) { j.TaskGroups[0].Consul = &nomad.Consul{Namespace: "x"} },
			`group "g" -> consul: Consul is not available`},
		{"connect", func(j *nomad.Job) {
			j.TaskGroups[0].Services = []*nomad.Service{{Name: "s", Connect: &nomad.ConsulConnect{Native: true}}}
		}, `group "g" -> service "s" -> connect: Consul Connect is not available`},
		{"csi volume", func(j *nomad.Job) {
			j.TaskGroups[0].Volumes = map[string]*nomad.VolumeRequest{"v": {Name: "v", Type: "csi", Source: "x"}}
		}, `group "g" -> volume "v" -> type: CSI volumes are not available`},
		{"per_alloc host volume", func(j *nomad.Job) {
			j.TaskGroups[0].Volumes = map[string]*nomad.VolumeRequest{"v": {Name: "v", Type: "host", Source: "x", PerAlloc: true}}
		}, `group "g" -> volume "v" -> per_alloc: per_alloc is only for CSI volumes`},
		{"artifact", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("s3::https://s3.amazonaws.com/b/k")}}
		}, `group "g" -> task "t" -> artifact[0] -> source: s3 and gcs artifact sources are not supported`},
		{"periodic service", func(j *nomad.Job) {
			j.Periodic = &nomad.PeriodicConfig{Spec: ptr("@daily")}
		}, `periodic: periodic jobs must be of type batch or sysbatch, not "service"`},
		{"periodic time zone", func(j *nomad.Job) {
			j.Type = ptr("batch")
			j.Periodic = &nomad.PeriodicConfig{Spec: ptr("@daily"), TimeZone: ptr("Mars/Olympus")}
		}, `periodic: invalid time zone "Mars/Olympus"`},
		{"dispatch_payload without parameterized", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].DispatchPayload = &nomad.DispatchPayloadConfig{File: "x"}
		}, `group "g" -> task "t" -> dispatch_payload: dispatch_payload is only valid in a parameterized job`},
		{"network mode", func(j *nomad.Job) {
			j.TaskGroups[0].Networks = []*nomad.NetworkResource{{Mode: "weird"}}
		}, `group "g" -> network[0] -> mode: network mode "weird" is not supported`},
		{"numa", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Resources = &nomad.Resources{Cores: ptr(2), NUMA: &nomad.NUMAResource{Affinity: "require"}}
		}, `group "g" -> task "t" -> resources -> numa: NUMA-aware scheduling is a Nomad Enterprise feature orch does not have`},
		{"identity", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Identity = &nomad.WorkloadIdentity{Env: true, TTL: time.Hour}
		}, `group "g" -> task "t" -> identity -> ttl: identity ttl is not supported yet`},
		{"named identity", func(j *nomad.Job) {
			j.TaskGroups[0].Tasks[0].Identities = []*nomad.WorkloadIdentity{{Name: "vault", Audience: []string{"vault.io"}}}
		}, `group "g" -> task "t" -> identity "vault": named workload identities`},
		{"multiregion", func(j *nomad.Job) { j.Multiregion = &nomad.Multiregion{} },
			`multiregion: multiregion is a Nomad Enterprise feature`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nj := nomadJob("service")
			tc.set(nj)
			nj.Canonicalize()
			err := Validate(decodeNomad(t, nj))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got:\n%v", tc.want, err)
			}
		})
	}
}

// On the HCL path the refusal carries the position of the block or
// argument, and the same message.
func TestRefusedFieldsOverHCL(t *testing.T) {
	src := `job "web" {
  group "g" {
    network {
      mode = "weird"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      template {
        data        = "x"
        destination = "local/x"
      }
      vault {
        policies = ["p"]
      }
      resources {
        numa {
          affinity = "require"
        }
      }
    }
  }
}
`
	_, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src)})
	if err == nil {
		t.Fatal("refused fields accepted")
	}
	for _, want := range []string{
		`job.hcl:4:7: Unsupported argument: group "g" -> network[0] -> mode: network mode "weird" is not supported`,
		`job.hcl:15:7: Unsupported block: group "g" -> task "t" -> vault: Vault is not available: orch does not run Vault`,
		`job.hcl:19:9: Unsupported block: group "g" -> task "t" -> resources -> numa: NUMA-aware scheduling is a Nomad Enterprise feature orch does not have`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// Null, absent and zero values are never refused, and the defaults the
// HCL path writes are accepted too.
func TestUnsetRefusedFieldsAccepted(t *testing.T) {
	src := `job "web" {
  update {
    max_parallel = 1
  }
  group "g" {
    update {
      max_parallel = 0
    }
    ephemeral_disk {
      sticky = false
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cores = 0
      }
    }
  }
}
`
	job, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(job); err != nil {
		t.Fatal(err)
	}
}
