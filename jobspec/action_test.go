package jobspec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// TestActionParsed: a task's action blocks arrive alike on the HCL and
// JSON paths (the client runs them: see httpapi TestJobActionEndpoint and
// e2e TestJobActionE2E), and Nomad's rules hold: a command, a name unique
// in its task, at most 128 characters.
func TestActionParsed(t *testing.T) {
	src := "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"true\"\n      }\n" +
		"      action \"list-tmp\" {\n        command = \"/bin/ls\"\n        args    = [\"-l\", \"/tmp\"]\n      }\n" +
		"      action \"date\" {\n        command = \"/bin/date\"\n      }\n    }\n  }\n}\n"
	job, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	want := []*structs.Action{{Name: "list-tmp", Command: "/bin/ls", Args: []string{"-l", "/tmp"}}, {Name: "date", Command: "/bin/date"}}
	if got := job.TaskGroups[0].Tasks[0].Actions; !reflect.DeepEqual(got, want) {
		t.Fatalf("HCL actions %+v", got)
	}
	fromJSON, err := ParseJSON([]byte(`{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec",
		"Config":{"command":"true"},"Actions":[{"Name":"list-tmp","Command":"/bin/ls","Args":["-l","/tmp"]},{"Name":"date","Command":"/bin/date","Args":null}]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fromJSON.TaskGroups[0].Tasks[0].Actions; !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON actions %+v", got)
	}
	task := job.TaskGroups[0].Tasks[0]
	task.Actions = []*structs.Action{{Name: "a", Command: "x"}, {Name: "a", Command: "y"}, {Name: "b"}, {Name: strings.Repeat("n", 129), Command: "z"}}
	err = Validate(job)
	for _, msg := range []string{`action "a": duplicate action name "a"`, `action "b": missing command`, "must not exceed 128 characters"} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("want %q in %v", msg, err)
		}
	}
	src = strings.Replace(src, "command = \"/bin/date\"", "command = \"/bin/date\"\n        user = \"x\"", 1)
	if _, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src)}); err == nil || !strings.Contains(err.Error(), "user") {
		t.Fatalf("unknown action argument: %v", err)
	}
}

// TestSecretParsed: a task's secret blocks arrive alike on the HCL and JSON
// paths (the client reads them: see e2e TestSecretBlockE2E); the nomad
// provider takes a path and at most a namespace; vault and custom
// providers, and env (for custom plugins), are refused with their reason.
func TestSecretParsed(t *testing.T) {
	src := func(body string) []byte {
		return []byte("job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"true\"\n      }\n" +
			"      env {\n        P = \"${secret.db.pw}\"\n      }\n" + body + "    }\n  }\n}\n")
	}
	job, err := Parse(ParseConfig{Path: "job.hcl", Body: src("      secret \"db\" {\n        provider = \"nomad\"\n        path = \"nomad/jobs/x\"\n        config {\n          namespace = \"prod\"\n        }\n      }\n")})
	if err != nil {
		t.Fatal(err)
	}
	want := []*structs.Secret{{Name: "db", Provider: "nomad", Path: "nomad/jobs/x", Config: map[string]any{"namespace": "prod"}}}
	task := job.TaskGroups[0].Tasks[0]
	if !reflect.DeepEqual(task.Secrets, want) || task.Env["P"] != "${secret.db.pw}" || task.Secrets[0].Namespace() != "prod" {
		t.Fatalf("HCL secrets %+v env %v", task.Secrets, task.Env)
	}
	fromJSON, err := ParseJSON([]byte(`{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec",
		"Config":{"command":"true"},"Secrets":[{"Name":"db","Provider":"nomad","Path":"nomad/jobs/x","Config":{"namespace":"prod"},"Env":null}]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fromJSON.TaskGroups[0].Tasks[0].Secrets; !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON secrets %+v", got)
	}
	vaultJSON, err := ParseJSON([]byte(`{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec",
		"Config":{"command":"true"},"Secrets":[{"Name":"v","Provider":"vault","Path":"kv/x"}]}]}]}}`))
	if err == nil {
		err = Validate(vaultJSON)
	}
	if err == nil || !strings.Contains(err.Error(), `task "t" -> secret "v" -> provider: Vault is not available`) {
		t.Fatalf("vault provider over JSON: %v", err)
	}
	for _, c := range []struct{ body, msg string }{
		{"      secret \"v\" {\n        provider = \"vault\"\n        path = \"kv/x\"\n      }\n", "Vault is not available"},
		{"      secret \"c\" {\n        provider = \"aws\"\n        path = \"x\"\n      }\n", `secret provider "aws" is a custom provider plugin`},
		{"      secret \"c\" {\n        provider = \"nomad\"\n        path = \"x\"\n        env {\n          A = \"b\"\n        }\n      }\n", "secret env is for custom secret provider plugins"},
		{"      secret \"c\" {\n        provider = \"nomad\"\n      }\n", "missing path"},
		{"      secret \"c\" {\n        provider = \"nomad\"\n        path = \"x\"\n        config {\n          engine = \"kv_v2\"\n        }\n      }\n", `not "engine"`},
	} {
		j, err := Parse(ParseConfig{Path: "job.hcl", Body: src(c.body)})
		if err == nil {
			err = Validate(j)
		}
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("want %q, got %v", c.msg, err)
		}
	}
}
