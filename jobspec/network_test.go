package jobspec

import (
	"strings"
	"testing"
)

// A group network namespace refuses what it cannot give, with the reason:
// dns for raw_exec (no mount namespace), ports in mode none. bridge, none
// and cni/<name> are accepted otherwise, for every driver.
func TestGroupNamespaceRefusals(t *testing.T) {
	job := func(mode, driver, extra string) string {
		return `job "j" {
  group "g" {
    network {
      mode = "` + mode + `"
` + extra + `
    }
    task "t" {
      driver = "` + driver + `"
      config {
        command = "/bin/true"
      }
    }
  }
}
`
	}
	for _, tc := range []struct{ name, src, want string }{
		{"bridge raw_exec", job("bridge", "raw_exec", `port "http" { to = 8080 }`), ""},
		{"bridge exec dns", job("bridge", "exec", `dns { servers = ["192.0.2.1"] }`), ""},
		{"none", job("none", "exec", ""), ""},
		{"cni", job("cni/mynet", "raw_exec", `cni { args = { IgnoreUnknown = "1" } }`), ""},
		{"docker", job("bridge", "docker", ""), ""},
		{"raw_exec dns", job("bridge", "raw_exec", `dns { servers = ["192.0.2.1"] }`), `dns cannot be given to raw_exec task "t"`},
		{"none ports", job("none", "exec", `port "p" {}`), `ports cannot be published in network mode none`},
		{"alloc address mode in host networking", strings.Replace(job("host", "exec", `port "p" {}`), "    task", "    service {\n      name = \"s\"\n      port = \"p\"\n      address_mode = \"alloc\"\n    }\n    task", 1), `address_mode "alloc" needs the group's network mode to be bridge or cni/<name>`},
		{"alloc address mode in bridge networking", strings.Replace(job("bridge", "exec", `port "p" {}`), "    task", "    service {\n      name = \"s\"\n      port = \"p\"\n      address_mode = \"alloc\"\n    }\n    task", 1), ""},
		{"unknown mode", job("weird", "exec", ""), `network mode "weird"`},
		{"bridge ignore_collision", job("bridge", "exec", `port "p" {
  static = 8080
  ignore_collision = true
}`), `port "p" -> ignore_collision: ignore_collision needs network mode "host", not "bridge"`},
		{"cni ignore_collision", job("cni/x", "exec", `port "p" {
  static = 8080
  ignore_collision = true
}`), `ignore_collision needs network mode "host", not "cni/x"`},
		{"host ignore_collision", job("host", "exec", `port "p" {
  static = 8080
  ignore_collision = true
}`), ""},
		{"hostname with docker", job("bridge", "docker", `hostname = "web-${NOMAD_ALLOC_INDEX}"`), ""},
		{"hostname without docker", job("bridge", "exec", `hostname = "h"`), `hostname needs network mode bridge (or cni/<name>) and a docker task`},
		{"hostname in host mode", job("host", "docker", `hostname = "h"`), `hostname needs network mode bridge`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(tc.src)})
			if err == nil {
				err = Validate(j)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
