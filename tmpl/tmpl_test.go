package tmpl

import (
	"errors"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// staticData is a fixed data set.
type staticData struct {
	services map[string][]*structs.ServiceRegistration
	vars     map[string]*structs.VariableDecrypted
}

func (d *staticData) Service(ns, name string) ([]*structs.ServiceRegistration, error) {
	return d.services[ns+"/"+name], nil
}

func (d *staticData) Services(ns string) ([]*structs.ServiceRegistrationStub, error) {
	var out []*structs.ServiceRegistrationStub
	for k, regs := range d.services {
		if strings.HasPrefix(k, ns+"/") && len(regs) > 0 {
			out = append(out, &structs.ServiceRegistrationStub{ServiceName: regs[0].ServiceName, Tags: regs[0].Tags})
		}
	}
	return out, nil
}

func (d *staticData) Variable(ns, path string) (*structs.VariableDecrypted, error) {
	if path == "denied" {
		return nil, errors.New("permission denied")
	}
	return d.vars[ns+"/"+path], nil
}

func (d *staticData) Variables(ns, prefix string) ([]*structs.VariableMetadata, error) {
	var out []*structs.VariableMetadata
	for k, v := range d.vars {
		if strings.HasPrefix(k, ns+"/"+prefix) {
			m := v.VariableMetadata
			out = append(out, &m)
		}
	}
	return out, nil
}

func testData() *staticData {
	reg := func(id, addr string, port int, tags ...string) *structs.ServiceRegistration {
		return &structs.ServiceRegistration{ID: id, ServiceName: "web", Namespace: "default", Address: addr, Port: port, Tags: tags, Status: "passing"}
	}
	v := &structs.VariableDecrypted{Items: structs.VariableItems{"db_password": "s3cret", "user": "app"}}
	v.Namespace, v.Path = "default", "nomad/jobs/app"
	return &staticData{
		services: map[string][]*structs.ServiceRegistration{
			"default/web": {reg("a", "10.0.0.1", 8001, "v1", "primary"), reg("b", "10.0.0.2", 8002, "v1"), reg("c", "10.0.0.3", 8003, "v2")},
		},
		vars: map[string]*structs.VariableDecrypted{"default/nomad/jobs/app": v},
	}
}

func render(t *testing.T, text string) string {
	t.Helper()
	out, err := Render(&Config{Name: "t", Text: text, Namespace: "default", Region: "global", Data: testData(),
		Env: map[string]string{"NOMAD_ALLOC_ID": "alloc-1", "EMPTY": ""},
		ReadFile: func(name string) (string, error) {
			if name == "local/in.txt" {
				return "file contents", nil
			}
			return "", errors.New("no such file")
		}})
	if err != nil {
		t.Fatalf("render %q: %v", text, err)
	}
	return string(out)
}

func TestRenderNativeData(t *testing.T) {
	cases := map[string]string{
		`{{ range nomadService "web" }}{{ .Address }}:{{ .Port }} {{ end }}`:                                "10.0.0.1:8001 10.0.0.2:8002 10.0.0.3:8003 ",
		`{{ range nomadService "v1.web" }}{{ .Port }},{{ end }}`:                                            "8001,8002,",
		`{{ range nomadService "web@global" }}{{ if .Tags.Contains "primary" }}{{ .ID }}{{ end }}{{ end }}`: "a",
		`{{ len (nomadService 2 "key-1" "web") }}`:                                                          "2",
		`{{ with nomadVar "nomad/jobs/app" }}{{ .db_password }}/{{ .user }}{{ end }}`:                       "s3cret/app",
		`{{ range $k, $v := nomadVar "nomad/jobs/app" }}{{ $k }}={{ $v }};{{ end }}`:                        "db_password=s3cret;user=app;",
		`{{ (nomadVar "nomad/jobs/app").Keys }}`:                                                            "[db_password user]",
		`{{ nomadVarExists "nomad/jobs/app" }} {{ nomadVarExists "nomad/jobs/none" }}`:                      "true false",
		`{{ range nomadVarList "nomad/jobs" }}{{ .Path }}{{ end }}`:                                         "nomad/jobs/app",
		`{{ range nomadServices }}{{ .Name }}{{ .Tags }}{{ end }}`:                                          "web[v1 primary]",
		`{{ env "NOMAD_ALLOC_ID" }} {{ envOrDefault "EMPTY" "dflt" }} {{ env "PATH" }}`:                     "alloc-1 dflt ",
		`{{ file "local/in.txt" }}`:                                                                         "file contents",
		`{{ range $tag, $s := nomadService "web" | byTag }}{{ $tag }}:{{ len $s }} {{ end }}`:               "primary:1 v1:2 v2:1 ",
	}
	for in, want := range cases {
		if got := render(t, in); got != want {
			t.Errorf("%s\n got %q\nwant %q", in, got, want)
		}
	}
	// choose is stable and picks distinct instances.
	a, b := render(t, `{{ range nomadService 2 "k" "web" }}{{ .ID }}{{ end }}`), render(t, `{{ range nomadService 2 "k" "web" }}{{ .ID }}{{ end }}`)
	if a != b || len(a) != 2 || a[0] == a[1] {
		t.Fatalf("choose: %q %q", a, b)
	}
}

func TestRenderHelpers(t *testing.T) {
	cases := map[string]string{
		`{{ "aGk=" | base64Decode }} {{ "hi" | base64Encode }}`:                                                          "hi aGk=",
		`{{ "a,b,c" | split "," | join ";" }}`:                                                                           "a;b;c",
		`{{ "  x " | trimSpace | toUpper }}{{ "Y" | toLower }}`:                                                          "Xy",
		`{{ replaceAll "a" "b" "banana" }} {{ regexReplaceAll "[0-9]+" "#" "a1b22" }}`:                                   "bbnbnb a#b#",
		`{{ (parseJSON "{\"a\":[1,2]}").a }} {{ toJSON (parseJSON "{\"b\":true}") }}`:                                    `[1 2] {"b":true}`,
		`{{ (parseYAML "a: 1\nb: x").b }} {{ toYAML (parseYAML "k: v") }}`:                                               "x k: v",
		`{{ range loop 3 }}{{ . }}{{ end }} {{ range loop 2 4 }}{{ . }}{{ end }}`:                                        "012 23",
		`{{ add 2 3 }} {{ subtract 2 5 }} {{ multiply 2 1.5 }} {{ divide 2 10 }} {{ modulo 2 7 }} {{ 10 | subtract 3 }}`: "5 3 3 5 1 7",
		`{{ "a b" | toTitle }} {{ sha256Hex "x" | printf "%.8s" }} {{ parseInt "42" }}`:                                  "A B 2d711642 42",
		`{{ sprig_upper "x" }} {{ sprig_repeat 3 "ab" }} {{ sprig_default "d" "" }}`:                                     "X ababab d",
		`{{ indent 2 "a\nb" }}`: "  a\n  b",
		`{{ (splitToMap "," "=" "a=1,b=2").b }} {{ in (split "," "x,y") "y" }} {{ containsAny (split "," "a,q") (split "," "q,r") }}`:                    "2 true true",
		`{{ timestamp "2006" | len }} {{ sockaddr "GetAllInterfaces | include \"flags\" \"loopback\" | include \"type\" \"ipv4\" | attr \"address\"" }}`: "4 127.0.0.1",
	}
	for in, want := range cases {
		if got := render(t, in); got != want {
			t.Errorf("%s\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	base := &Config{Name: "t", Namespace: "default", Region: "global", Data: testData(), Env: map[string]string{}}
	try := func(text string, missingKey bool) error {
		c := *base
		c.Text, c.ErrMissingKey = text, missingKey
		_, err := Render(&c)
		return err
	}
	if err := try(`{{ nomadVar "nomad/jobs/none" }}`, false); !IsMissing(err) {
		t.Fatalf("missing variable: %v", err)
	}
	if err := try(`{{ (nomadVar "nomad/jobs/app").nope }}`, true); err == nil {
		t.Fatal("error_on_missing_key did not fail a missing key")
	}
	if got, err := Render(&Config{Text: `[{{ (nomadVar "nomad/jobs/app").nope }}]`, Namespace: "default", Data: testData()}); err != nil || string(got) != "[]" {
		t.Fatalf("missing key without error_on_missing_key: %q %v", got, err)
	}
	if err := try(`{{ nomadVar "denied" }}`, false); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("denied variable: %v", err)
	}
	if err := try(`{{ nomadService "bad_name" }}`, false); err == nil {
		t.Fatal("invalid service name accepted")
	}
	if err := try(`{{ nomadService "web@other" }}`, false); err == nil {
		t.Fatal("foreign region accepted")
	}
	if err := try(`{{ range loop 5000000 }}{{ end }}`, false); err == nil {
		t.Fatal("unbounded loop accepted")
	}
	if err := try(`{{ file "/etc/passwd" }}`, false); err == nil {
		t.Fatal("file without a reader worked")
	}
	// Delimiters.
	c := *base
	c.Text, c.LeftDelim, c.RightDelim = `[[ env "X" ]]{{ not a template }}`, "[[", "]]"
	c.Env = map[string]string{"X": "y"}
	if out, err := Render(&c); err != nil || string(out) != "y{{ not a template }}" {
		t.Fatalf("delimiters: %q %v", out, err)
	}
}

func TestValidateRefusesWhatCannotWork(t *testing.T) {
	for text, want := range map[string]string{
		`{{ key "service/redis/maxconns" }}`:                             "Consul is not available",
		`{{ range service "redis" }}{{ end }}`:                           "Consul is not available",
		`{{ with secret "secret/data/db" }}{{ .Data.data.pw }}{{ end }}`: "Vault is not available",
		`{{ if true }}{{ keyOrDefault "k" "d" }}{{ end }}`:               "Consul is not available",
		`{{ plugin "/bin/sh" "-c" "id" }}`:                               "plugin function is not allowed",
		`{{ "x" | writeToFile "/etc/x" "" "" "" }}`:                      "writeToFile",
		`{{ noSuchFunction }}`:                                           `function "noSuchFunction" not defined`,
		`{{ nomadService "web" `:                                         "unclosed action",
	} {
		err := Validate(text, "", "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
	for _, ok := range []string{
		`{{ range nomadService "web" }}{{ .Address }}{{ end }}`,
		`{{ with nomadVar "nomad/jobs/x" }}{{ .k }}{{ end }}{{ sprig_upper "a" }}{{ env "X" }}`,
		`{{ define "x" }}{{ env "A" }}{{ end }}{{ template "x" }}`,
	} {
		if err := Validate(ok, "", ""); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := Validate(`[[ secret "x" ]]`, "[[", "]]"); err == nil {
		t.Error("custom delimiters hid a Vault call")
	}
}
