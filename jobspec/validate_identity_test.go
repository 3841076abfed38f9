package jobspec

import (
	"strings"
	"testing"
)

// TestUserAndEnvRefusedAtSubmit: issue 8 — an out-of-range or malformed
// user, and an environment a process cannot carry, are refused when the
// job is submitted, with the field path, from HCL and from JSON alike (a
// name with "=" or an empty one cannot even be written in HCL's env block).
func TestUserAndEnvRefusedAtSubmit(t *testing.T) {
	for name, tc := range map[string]struct {
		user, envHCL, envJSON string
		want                  string
	}{
		"uid overflow":   {user: "4294967296", want: `invalid user "4294967296": user id "4294967296" is out of range`},
		"negative gid":   {user: "65534:-1", want: `invalid user "65534:-1": group "-1" is neither a name nor an id in range`},
		"junk":           {user: "a b", want: `invalid user "a b": user "a b" contains ' '`},
		"equals in name": {envJSON: `"A=B": "x"`, want: `environment variable name "A=B" contains "="`},
		"empty name":     {envJSON: `"": "x"`, want: "environment variable with an empty name"},
		"NUL in name":    {envJSON: `"A\u0000": "x"`, want: `environment variable name "A\x00" contains a NUL byte`},
		"NUL in value":   {envHCL: `A = "x\u0000y"`, envJSON: `"A": "x\u0000y"`, want: `environment variable "A" has a NUL byte in its value`},
	} {
		t.Run(name, func(t *testing.T) {
			user, env := "", ""
			if tc.user != "" {
				user = "user = " + `"` + tc.user + `"`
			}
			if tc.envHCL != "" {
				env = "env {\n        " + tc.envHCL + "\n      }"
			}
			hcl := `job "j" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      ` + user + `
      ` + env + `
      config {
        command = "/bin/true"
      }
    }
  }
}`
			if tc.user != "" || tc.envHCL != "" {
				job, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(hcl)})
				if err == nil {
					err = Validate(job)
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `group "g" -> task "t" -> `) {
					t.Fatalf("HCL: %v, want %q with its field path", err, tc.want)
				}
			}
			fields := `"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}`
			if tc.user != "" {
				fields += `, "User": "` + tc.user + `"`
			}
			if tc.envJSON != "" {
				fields += `, "Env": {` + tc.envJSON + `}`
			}
			job, err := ParseJSON([]byte(`{"Job": {"ID": "j", "TaskGroups": [{"Name": "g", "Tasks": [{` + fields + `}]}]}}`))
			if err == nil {
				err = Validate(job)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `group "g" -> task "t" -> `) {
				t.Fatalf("JSON: %v, want %q with its field path", err, tc.want)
			}
		})
	}
}
