package jobspec

import (
	"strconv"
	"strings"
	"testing"
)

func TestValidateTaskAndGroupNames(t *testing.T) {
	cases := []struct {
		name string
		bad  string
		want string
	}{
		{"traversal", "../../../x", `must not contain "/"`},
		{"dotdot", "..", `must not be "." or ".."`},
		{"dot", ".", `must not be "." or ".."`},
		{"slash", "a/b", `must not contain "/"`},
		{"absolute", "/etc", `must not contain "/"`},
		{"backslash", `a\b`, `must not contain "/" or "\"`},
		{"nul", "a\x00b", "must not contain NUL characters"},
		{"newline", "a\nb", "must not contain control characters"},
		{"escape", "a\x1b[31m", "must not contain control characters"},
		{"del", "a\x7f", "must not contain control characters"},
		{"c1 control", "a\u0085", "must not contain control characters"},
		{"invalid utf8", "a\xff", "must be valid UTF-8"},
	}
	for _, c := range cases {
		t.Run("task/"+c.name, func(t *testing.T) {
			j := validJob(t)
			j.TaskGroups[0].Tasks[0].Name = c.bad
			err := Validate(j)
			if err == nil {
				t.Fatalf("task name %q accepted", c.bad)
			}
			want := `group "web" -> task ` + strconv.Quote(c.bad) + ": invalid task name: " + c.want
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		})
		t.Run("group/"+c.name, func(t *testing.T) {
			j := validJob(t)
			j.TaskGroups[0].Name = c.bad
			err := Validate(j)
			if err == nil {
				t.Fatalf("group name %q accepted", c.bad)
			}
			want := "group " + strconv.Quote(c.bad) + ": invalid group name: " + c.want
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestValidateReservesAllocTaskName(t *testing.T) {
	j := validJob(t)
	j.TaskGroups[0].Tasks[0].Name = "alloc"
	err := validate(j, false)
	if err == nil || !strings.Contains(err.Error(), `task "alloc": invalid task name: "alloc" is reserved`) {
		t.Fatalf("Validate = %v, want alloc reserved", err)
	}
	j = validJob(t)
	j.TaskGroups[0].Name = "alloc" // groups have no directory of their own
	if err := validate(j, false); err != nil {
		t.Fatalf("group named alloc rejected: %v", err)
	}
}

func TestValidateAcceptsOrdinaryNames(t *testing.T) {
	for _, name := range []string{"web", "my-task_1.v2", "...", "..a", "a..", "täsk", "a b"} {
		j := validJob(t)
		j.TaskGroups[0].Name = name
		j.TaskGroups[0].Tasks[0].Name = name
		if err := validate(j, false); err != nil {
			t.Errorf("name %q rejected: %v", name, err)
		}
	}
}

func TestParseRejectsTraversalTaskName(t *testing.T) {
	job, err := Parse(ParseConfig{Body: []byte(`job "x" {
  group "g" {
    task "../../../x" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}`)})
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(job)
	if err == nil || !strings.Contains(err.Error(), `invalid task name`) {
		t.Fatalf("Validate = %v, want invalid task name", err)
	}
}
