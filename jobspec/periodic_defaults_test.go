package jobspec

import "testing"

func TestPeriodicEnabledDefaults(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{`job "a" {
  type = "batch"
  periodic {
    crons   = ["@daily"]
    enabled = false
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}`, false},
		{`job "a" {
  type = "batch"
  periodic {
    crons = ["@daily"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}`, true},
	} {
		j, err := Parse(ParseConfig{Path: "a.hcl", Body: []byte(c.src)})
		if err != nil {
			t.Fatal(err)
		}
		if j.Periodic.Enabled != c.want {
			t.Fatalf("HCL enabled = %v, want %v", j.Periodic.Enabled, c.want)
		}
	}
	for raw, want := range map[string]bool{
		`{"ID":"a","Type":"batch","Periodic":{"Specs":["@daily"]}}`:                 true,
		`{"ID":"a","Type":"batch","Periodic":{"Specs":["@daily"],"Enabled":null}}`:  true,
		`{"ID":"a","Type":"batch","Periodic":{"Specs":["@daily"],"Enabled":false}}`: false,
		`{"ID":"a","Type":"batch","Periodic":{"Specs":["@daily"],"Enabled":true}}`:  true,
	} {
		j, err := ParseJSON([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		CanonicalizeJSON(j, []byte(raw))
		if j.Periodic.Enabled != want {
			t.Fatalf("%s: enabled = %v, want %v", raw, j.Periodic.Enabled, want)
		}
	}
}
