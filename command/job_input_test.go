package command

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

func runCLIEnv(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{ctx: t.Context(), out: &out, err: &errb, in: strings.NewReader(stdin), env: env}
	code := c.run(args)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every driver's schema is applied: a mistyped key is reported with its
// position and the offending source line, for run and validate alike.
func TestDriverConfigCheckedWithPositions(t *testing.T) {
	cases := map[string]struct{ config, want, snippet string }{
		"raw_exec": {`command = "/bin/true"` + "\n        comand = \"x\"", `:8:9: Unsupported argument: An argument named "comand"`, "^^^^^^"},
		"exec":     {`command = ["/bin/true"]`, `:7:19: Incorrect attribute value type`, "^^^^^^^^^^^^^"},
		"docker":   {`imagee = "redis:7"`, `:7:9: Unsupported argument: An argument named "imagee" is not expected here. Did you mean "image"?`, "^^^^^^"},
		"java":     {`jar_path = "/a.jar"` + "\n        jvm_options = \"-Xmx1g\"", `:8:23: Incorrect attribute value type`, "^^^^^^^^"},
	}
	for driver, tc := range cases {
		t.Run(driver, func(t *testing.T) {
			src := `job "j" {
  group "g" {
    task "t" {
      driver = "` + driver + `"

      config {
        ` + tc.config + `
      }
    }
  }
}
`
			path := writeFile(t, "j.nomad.hcl", src)
			for _, cmd := range []string{"validate", "run"} {
				code, out, errs := runCLIEnv(t, nil, "", append(append([]string{"job", cmd}, addrFor(cmd)...), path)...)
				if code != 1 || out != "" {
					t.Fatalf("%s: exit %d, stdout %q", cmd, code, out)
				}
				if !strings.Contains(errs, path+tc.want) || !strings.Contains(errs, tc.snippet) {
					t.Fatalf("%s: stderr lacks %q / %q:\n%s", cmd, path+tc.want, tc.snippet, errs)
				}
			}
		})
	}
}

func TestAllParseErrorsPrintedWithSnippets(t *testing.T) {
	path := writeFile(t, "bad.hcl", `job "x" {
  priority = "high"
  group "g" {
    bogus = 1
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
`)
	code, _, errs := runCLIEnv(t, nil, "", "job", "validate", path)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		path + ":2:14: ", "  2 |   priority = \"high\"\n    |              ^^^^^^\n",
		path + ":4:5: Unsupported argument", "  4 |     bogus = 1\n    |     ^^^^^\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestValidationErrorsOnePerLine(t *testing.T) {
	path := writeFile(t, "v.hcl", `job "x" {
  priority = 500
  group "g" {
    count = -1
    task "t" {
      driver = "docker"
      config {
        image = "redis"
        ports = ["http", "http"]
      }
    }
  }
}
`)
	code, out, errs := runCLIEnv(t, nil, "", "job", "validate", path)
	if code != 1 || strings.Contains(out, "successful") {
		t.Fatalf("exit %d %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if lines[0] != "Job validation errors:" || len(lines) < 4 {
		t.Fatalf("stderr:\n%s", errs)
	}
	for _, want := range []string{"priority", `group "g"`, `group "g" -> task "t": invalid docker driver config: `} {
		found := false
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "  * ") && strings.Contains(l, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error line with %q:\n%s", want, errs)
		}
	}
}

const varJob = `
variable "image" { type = string }
variable "n" {
  type    = number
  default = 1
}
job "vars" {
  group "g" {
    count = var.n
    task "t" {
      driver = "docker"
      config { image = var.image }
    }
  }
}
`

func outputJob(t *testing.T, env []string, stdin string, args ...string) *structs.Job {
	t.Helper()
	code, out, errs := runCLIEnv(t, env, stdin, append([]string{"job", "run", "-output"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct{ Job *structs.Job }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Job == nil {
		t.Fatalf("-output is not {\"Job\":...}: %v\n%s", err, out)
	}
	return doc.Job
}

func TestVariablesFromFlagsFilesAndEnv(t *testing.T) {
	path := writeFile(t, "vars.hcl", varJob)
	img := func(j *structs.Job) string { return j.TaskGroups[0].Tasks[0].Config["image"].(string) }

	j := outputJob(t, []string{"NOMAD_VAR_image=from-nomad-env"}, "", path)
	if img(j) != "from-nomad-env" || j.TaskGroups[0].Count != 1 {
		t.Fatalf("NOMAD_VAR_: %q %d", img(j), j.TaskGroups[0].Count)
	}
	if j := outputJob(t, []string{"ORCH_VAR_image=from-orch-env"}, "", path); img(j) != "from-orch-env" {
		t.Fatalf("ORCH_VAR_: %q", img(j))
	}
	f1 := writeFile(t, "a.vars.hcl", "image = \"from-file\"\nn = 3\n")
	f2 := writeFile(t, "b.vars.json", `{"n": 4}`)
	j = outputJob(t, []string{"ORCH_VAR_image=env"}, "", "-var-file", f1, "-var-file", f2, path)
	if img(j) != "from-file" || j.TaskGroups[0].Count != 4 {
		t.Fatalf("-var-file: %q %d", img(j), j.TaskGroups[0].Count)
	}
	j = outputJob(t, nil, "", "-var-file", f1, "-var", "image=from-flag", "-var", "n=5", path)
	if img(j) != "from-flag" || j.TaskGroups[0].Count != 5 {
		t.Fatalf("-var: %q %d", img(j), j.TaskGroups[0].Count)
	}
	// Standard input works too.
	if j := outputJob(t, nil, varJob, "-var", "image=stdin", "-"); img(j) != "stdin" {
		t.Fatalf("stdin: %q", img(j))
	}
	// A variable without a value is an error naming it.
	code, _, errs := runCLIEnv(t, nil, "", "job", "validate", path)
	if code != 1 || !strings.Contains(errs, "image") {
		t.Fatalf("missing variable: %d %q", code, errs)
	}
	bad := writeFile(t, "bad.vars.hcl", "n = \"x\"\nimage = \"i\"\n")
	code, _, errs = runCLIEnv(t, nil, "", "job", "validate", "-var-file", bad, path)
	if code != 1 || !strings.Contains(errs, bad+":1:") {
		t.Fatalf("bad var file: %d %q", code, errs)
	}
}

func TestJSONInput(t *testing.T) {
	hclPath := writeFile(t, "j.hcl", strings.Replace(varJob, `{ type = string }`, `{ default = "redis:7" }`, 1))
	orig := outputJob(t, nil, "", hclPath)
	wrapped, _ := json.Marshal(map[string]any{"Job": orig})
	bare, _ := json.Marshal(orig)
	for name, body := range map[string][]byte{"wrapped": wrapped, "bare": bare} {
		p := writeFile(t, name+".json", string(body))
		j := outputJob(t, nil, "", "-json", p)
		if j.ID != "vars" || j.TaskGroups[0].Tasks[0].Config["image"] != "redis:7" {
			t.Fatalf("%s: %+v", name, j)
		}
		if code, out, errs := runCLIEnv(t, nil, "", "job", "validate", "-json", p); code != 0 || !strings.Contains(out, "Job validation successful") {
			t.Fatalf("%s validate: %d %q %q", name, code, out, errs)
		}
	}
	// JSON skips the HCL schema, so the driver's own check must catch this.
	var doc map[string]any
	json.Unmarshal(wrapped, &doc)
	task := doc["Job"].(map[string]any)["TaskGroups"].([]any)[0].(map[string]any)["Tasks"].([]any)[0].(map[string]any)
	task["Config"] = map[string]any{"image": "redis", "imagee": "x"}
	badJSON, _ := json.Marshal(doc)
	p := writeFile(t, "bad.json", string(badJSON))
	code, _, errs := runCLIEnv(t, nil, "", "job", "validate", "-json", p)
	if code != 1 || !strings.Contains(errs, `group "g" -> task "t": invalid docker driver config`) || !strings.Contains(errs, "imagee") {
		t.Fatalf("bad JSON config: %d %q", code, errs)
	}
	p = writeFile(t, "syntax.json", "{\n  \"Job\": {\"ID\": 5}\n}")
	code, _, errs = runCLIEnv(t, nil, "", "job", "validate", "-json", p)
	if code != 1 || !strings.Contains(errs, p+":2:") {
		t.Fatalf("JSON type error: %d %q", code, errs)
	}
	if code, _, errs := runCLIEnv(t, nil, "", "job", "validate", "-json", "-var", "a=b", p); code != 1 || !strings.Contains(errs, "-var") {
		t.Fatalf("-json with -var: %d %q", code, errs)
	}
}

func TestJobInitDefaultName(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	if code, out, errs := runCLIEnv(t, nil, "", "job", "init", "-short"); code != 0 || !strings.Contains(out, "example.nomad.hcl") {
		t.Fatalf("init: %d %q %q", code, out, errs)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "example.nomad.hcl"))
	if code, _, errs := runCLIEnv(t, nil, "", "job", "init"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("overwrite: %d %q", code, errs)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "example.nomad.hcl"))
	if !bytes.Equal(before, after) || !strings.Contains(string(after), `job "example"`) {
		t.Fatal("init overwrote or wrote nothing")
	}
}

// addrFor points commands that talk to an agent at a closed port: a job
// that fails to parse must never get that far.
func addrFor(cmd string) []string {
	if cmd == "run" {
		return []string{"-address", "http://127.0.0.1:1"}
	}
	return nil
}
