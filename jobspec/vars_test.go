package jobspec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const varsJob = `
variable "region" {
  type    = string
  default = "from-default"
}
variable "dcs" {
  type    = list(string)
  default = ["d"]
}
variable "count" {
  type    = number
  default = 1
}
job "v" {
  region      = var.region
  datacenters = var.dcs
  group "g" {
    count = var.count
    task "t" {
      driver = "raw_exec"
    }
  }
}
`

func TestVariableSources(t *testing.T) {
	dir := t.TempDir()
	varFile := filepath.Join(dir, "vars.hcl")
	if err := os.WriteFile(varFile, []byte("region = \"from-file\"\ncount = 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		cfg       ParseConfig
		region    string
		dcs       string
		groupSize int
	}{
		{"defaults", ParseConfig{}, "from-default", "d", 1},
		{"nomad env", ParseConfig{Envs: []string{"NOMAD_VAR_region=nomad-env", "NOMAD_VAR_dcs=[\"a\",\"b\"]"}}, "nomad-env", "a,b", 1},
		{"orch env wins over nomad env", ParseConfig{Envs: []string{"ORCH_VAR_region=orch-env", "NOMAD_VAR_region=nomad-env"}}, "orch-env", "d", 1},
		{"file over env", ParseConfig{Envs: []string{"ORCH_VAR_region=env"}, VarFiles: []string{varFile}}, "from-file", "d", 4},
		{"-var over file", ParseConfig{VarFiles: []string{varFile}, ArgVars: []string{"region=from-flag", "count=7"}}, "from-flag", "d", 7},
		{"-var with = in value", ParseConfig{ArgVars: []string{"region=a=b"}}, "a=b", "d", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Path = "v.hcl"
			tc.cfg.Body = []byte(varsJob)
			job, err := Parse(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if job.Region != tc.region || strings.Join(job.Datacenters, ",") != tc.dcs || job.TaskGroups[0].Count != tc.groupSize {
				t.Fatalf("got region %q dcs %v count %d", job.Region, job.Datacenters, job.TaskGroups[0].Count)
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  ParseConfig
		want string
	}{
		{"undeclared -var", ParseConfig{ArgVars: []string{"nope=1"}}, `Undefined -var variable`},
		{"malformed -var", ParseConfig{ArgVars: []string{"region"}}, `Invalid -var option`},
		{"wrong type from -var", ParseConfig{ArgVars: []string{"count=abc"}}, `Variable "count"`},
		{"wrong type from env", ParseConfig{Envs: []string{"ORCH_VAR_dcs=5"}}, `Invalid value for variable`},
		{"missing var file", ParseConfig{VarFiles: []string{"/nonexistent/x.hcl"}}, `Failed to read var file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Path = "v.hcl"
			tc.cfg.Body = []byte(varsJob)
			_, err := Parse(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
	// Undeclared names in the environment are ignored: it is shared.
	if _, err := Parse(ParseConfig{Path: "v.hcl", Body: []byte(varsJob), Envs: []string{"ORCH_VAR_other=1"}}); err != nil {
		t.Fatal(err)
	}
	// A var file naming an undeclared variable is a mistake with position.
	dir := t.TempDir()
	vf := filepath.Join(dir, "bad.hcl")
	os.WriteFile(vf, []byte("\nnope = 1\n"), 0o644)
	_, err := Parse(ParseConfig{Path: "v.hcl", Body: []byte(varsJob), VarFiles: []string{vf}})
	if err == nil || !strings.Contains(err.Error(), vf+":2:1: Undefined variable") {
		t.Fatalf("got %v", err)
	}
}

func TestFilesystemFunctions(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "script.sh"), []byte("echo hi\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.tpl"), []byte("port=${port} alloc=${NOMAD_ALLOC_ID}"), 0o644)
	src := `job "fs" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      env {
        SCRIPT = file("script.sh")
        CONF   = templatefile("conf.tpl", { port = 80 })
      }
      meta {
        exists  = tostring(fileexists("script.sh"))
        missing = tostring(fileexists("nope"))
      }
    }
  }
}`
	path := filepath.Join(dir, "job.hcl")
	os.WriteFile(path, []byte(src), 0o644)
	job, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	task := job.TaskGroups[0].Tasks[0]
	if got := task.Env["SCRIPT"]; got != "echo hi\n" {
		t.Errorf("file() = %q", got)
	}
	if got := task.Env["CONF"]; got != "port=80 alloc=${NOMAD_ALLOC_ID}" {
		t.Errorf("templatefile() = %q", got)
	}
	if task.Meta["exists"] != "true" || task.Meta["missing"] != "false" {
		t.Errorf("fileexists: %v", task.Meta)
	}
	// The same file submitted without AllowFS must not read the disk.
	_, err = Parse(ParseConfig{Path: path, Body: []byte(src)})
	if err == nil || !strings.Contains(err.Error(), "filesystem functions are disabled") {
		t.Fatalf("want disabled error, got %v", err)
	}
}

// Runtime references keep their literal text wherever they appear, for the
// client to fill in; parse-time references are resolved.
func TestRuntimeInterpolationKeptLiteral(t *testing.T) {
	src := `job "rt" {
  constraint {
    attribute = "${attr.unique.network.ip-address}"
    value     = "${meta.ip}"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      env {
        A = "${NOMAD_ALLOC_INDEX}"
        B = "x-${node.unique.name}-${NOMAD_META_foo}"
        C = "${attr.kernel.name}/${attr.kernel.version}"
        D = lower("${NOMAD_TASK_NAME}")
      }
    }
  }
}`
	job, err := Parse(ParseConfig{Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	env := job.TaskGroups[0].Tasks[0].Env
	want := map[string]string{
		"A": "${NOMAD_ALLOC_INDEX}",
		"B": "x-${node.unique.name}-${NOMAD_META_foo}",
		"C": "${attr.kernel.name}/${attr.kernel.version}",
		"D": "${nomad_task_name}",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	c := job.Constraints[0]
	if c.LTarget != "${attr.unique.network.ip-address}" || c.RTarget != "${meta.ip}" {
		t.Errorf("constraint = %+v", c)
	}
}
