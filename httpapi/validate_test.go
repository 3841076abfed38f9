package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

const parseHCL = `variable "image" {
  type    = string
  default = "redis:7"
}

job "cache" {
  group "g" {
    task "redis" {
      driver = "docker"
      config {
        image = var.image
      }
    }
  }
}
`

func TestJobsParse(t *testing.T) {
	ta := newTestAgent(t)
	for _, method := range []string{"POST", "PUT"} {
		code, _, out := do(t, method, ta.srv.URL+"/v1/jobs/parse", map[string]any{
			"JobHCL": parseHCL, "Canonicalize": true, "Variables": "image = \"valkey:8\"\n", "HCLv1": false,
		})
		if code != 200 {
			t.Fatalf("%s: %d %s", method, code, out)
		}
		var job structs.Job
		if err := json.Unmarshal(out, &job); err != nil {
			t.Fatal(err)
		}
		if job.ID != "cache" || job.Priority != 50 || job.TaskGroups[0].Count != 1 ||
			job.TaskGroups[0].Tasks[0].Config["image"] != "valkey:8" {
			t.Fatalf("parsed job: %s", out)
		}
	}

	bad := strings.Replace(parseHCL, "image = var.image", "image = var.image\n        imagee = 1", 1)
	code, h, out := do(t, "POST", ta.srv.URL+"/v1/jobs/parse", map[string]any{"JobHCL": bad})
	if code != 400 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("bad HCL: %d %q", code, h.Get("Content-Type"))
	}
	for _, want := range []string{`input.hcl:12:9: Unsupported argument: An argument named "imagee"`, "  12 |         imagee = 1\n     |         ^^^^^^"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bad HCL reply lacks %q:\n%s", want, out)
		}
	}
	code, _, out = do(t, "POST", ta.srv.URL+"/v1/jobs/parse", map[string]any{"JobHCL": parseHCL, "Variables": "imag = 1"})
	if code != 400 || !strings.Contains(string(out), "variables.hcl:1:1") {
		t.Fatalf("bad variables: %d %s", code, out)
	}
	// No file system access for job files that come over the network.
	code, _, out = do(t, "POST", ta.srv.URL+"/v1/jobs/parse", map[string]any{
		"JobHCL": strings.Replace(parseHCL, `default = "redis:7"`, `default = file("/etc/hostname")`, 1)})
	if code != 400 || !strings.Contains(string(out), "input.hcl:3:") {
		t.Fatalf("file() over HTTP: %d %s", code, out)
	}
	for name, body := range map[string]string{
		"hclv1": `{"JobHCL":"job \"x\" {}","HCLv1":true}`, "empty": `{"JobHCL":""}`, "garbage": `{`,
	} {
		if code, _, out := do(t, "POST", ta.srv.URL+"/v1/jobs/parse", body); code != 400 || len(out) == 0 {
			t.Errorf("%s: %d %s", name, code, out)
		}
	}
}

func validJobJSON() map[string]any {
	return map[string]any{"ID": "v", "TaskGroups": []any{map[string]any{"Name": "g", "Tasks": []any{
		map[string]any{"Name": "t", "Driver": "docker", "Config": map[string]any{"image": "redis"}},
	}}}}
}

func TestValidateJob(t *testing.T) {
	ta := newTestAgent(t)
	var resp JobValidateResponse
	code, _, out := do(t, "PUT", ta.srv.URL+"/v1/validate/job", map[string]any{"Job": validJobJSON()})
	if code != 200 || json.Unmarshal(out, &resp) != nil || !resp.DriverConfigValidated || resp.Error != "" || len(resp.ValidationErrors) != 0 {
		t.Fatalf("valid job: %d %s", code, out)
	}
	if !strings.Contains(string(out), `"ValidationErrors":null`) || !strings.Contains(string(out), `"Warnings":""`) {
		t.Fatalf("reply shape differs from Nomad's: %s", out)
	}

	job := validJobJSON()
	job["Priority"] = 1000
	task := job["TaskGroups"].([]any)[0].(map[string]any)["Tasks"].([]any)[0].(map[string]any)
	task["Config"] = map[string]any{"image": "redis", "imagee": "x"}
	resp = JobValidateResponse{}
	code, _, out = do(t, "POST", ta.srv.URL+"/v1/validate/job", map[string]any{"Job": job})
	if code != 200 || json.Unmarshal(out, &resp) != nil {
		t.Fatalf("invalid job must still answer 200: %d %s", code, out)
	}
	if len(resp.ValidationErrors) != 2 || !strings.HasPrefix(resp.Error, "2 errors occurred:\n\t* ") {
		t.Fatalf("errors: %q / %q", resp.ValidationErrors, resp.Error)
	}
	if !strings.Contains(resp.ValidationErrors[1], `group "g" -> task "t": invalid docker driver config`) ||
		!strings.Contains(resp.ValidationErrors[1], "imagee") || !strings.Contains(resp.ValidationErrors[0], "priority") {
		t.Fatalf("errors do not say where and what: %q", resp.ValidationErrors)
	}
	if code, _, _ := do(t, "PUT", ta.srv.URL+"/v1/validate/job", `{}`); code != 400 {
		t.Fatalf("missing job: %d", code)
	}
}

// Register puts JSON jobs through each driver's own check too.
func TestRegisterChecksDriverConfig(t *testing.T) {
	ta := newTestAgent(t)
	for driver, cfg := range map[string]map[string]any{
		"docker":   {"image": "redis", "imagee": "x"},
		"raw_exec": {"command": []any{"/bin/true"}},
		"exec":     {"args": []any{"x"}},
		"java":     {"jar_path": "/a.jar", "bogus": true},
	} {
		job := validJobJSON()
		task := job["TaskGroups"].([]any)[0].(map[string]any)["Tasks"].([]any)[0].(map[string]any)
		task["Driver"], task["Config"] = driver, cfg
		for _, path := range []string{"/v1/jobs", "/v1/job/v"} {
			code, _, out := do(t, "PUT", ta.srv.URL+path, map[string]any{"Job": job})
			want := `group "g" -> task "t": invalid ` + driver + ` driver config: `
			if code != 400 || !strings.Contains(string(out), want) {
				t.Errorf("%s %s: %d %s", driver, path, code, out)
			}
		}
	}
	if j, _ := ta.backend.State().JobByID(nil, "default", "v"); j != nil {
		t.Fatal("job with a bad driver config was registered")
	}
}

// A refused field is refused by every HTTP path a job enters by: 400 with
// the field path on register, 400 with position on parse, and listed in
// the validate endpoint's ValidationErrors (200, as Nomad answers).
func TestRefusedFieldOnEveryHTTPPath(t *testing.T) {
	ta := newTestAgent(t)
	job := validJobJSON()
	task := job["TaskGroups"].([]any)[0].(map[string]any)["Tasks"].([]any)[0].(map[string]any)
	task["Vault"] = map[string]any{"Policies": []any{"p"}}
	want := `group "g" -> task "t" -> vault: Vault is not available`

	code, _, out := do(t, "PUT", ta.srv.URL+"/v1/jobs", map[string]any{"Job": job})
	if code != 400 || !strings.Contains(string(out), want) {
		t.Fatalf("register: %d %s", code, out)
	}
	code, _, out = do(t, "PUT", ta.srv.URL+"/v1/validate/job", map[string]any{"Job": job})
	var vr JobValidateResponse
	if err := json.Unmarshal(out, &vr); code != 200 || err != nil || !strings.Contains(strings.Join(vr.ValidationErrors, "\n"), want) {
		t.Fatalf("validate: %d %s", code, out)
	}
	hcl := strings.Replace(parseHCL, "image = var.image\n      }", "image = var.image\n      }\n      vault {\n        policies = [\"p\"]\n      }", 1)
	code, _, out = do(t, "POST", ta.srv.URL+"/v1/jobs/parse", map[string]any{"JobHCL": hcl})
	if code != 400 || !strings.Contains(string(out), `input.hcl:13:7: Unsupported block: group "g" -> task "redis" -> vault: Vault is not available`) {
		t.Fatalf("parse: %d %s", code, out)
	}
	// null means absent: the stock CLI's nulls are accepted.
	task["Vault"] = nil
	task["Templates"] = nil
	if code, _, out := do(t, "PUT", ta.srv.URL+"/v1/jobs", map[string]any{"Job": job}); code != 200 {
		t.Fatalf("nulls refused: %d %s", code, out)
	}
}
