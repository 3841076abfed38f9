package command

import (
	"strings"
	"testing"
)

// orch job scale changes the count (the group may be left out when the job
// has one), is refused past the group's scaling policy with exit 1, and
// orch job scaling-events shows the history.
func TestJobScaleCLI(t *testing.T) {
	e := newEnv(t)
	e.addNode(t)
	p := writeJob(t, "web")
	if code, _, errs := e.run(t, "job", "run", "-detach", p); code != 0 {
		t.Fatalf("run: %d %s", code, errs)
	}
	if code, out, errs := e.run(t, "job", "scale", "-detach", "web", "3"); code != 0 || !strings.Contains(out, "Evaluation ID: ") {
		t.Fatalf("scale: %d %q %q", code, out, errs)
	}
	if code, out, errs := e.run(t, "job", "scale", "web", "g", "4"); code != 0 || !strings.Contains(out, "finished with status \"complete\"") {
		t.Fatalf("scale with monitor: %d %q %q", code, out, errs)
	}
	code, out, errs := e.run(t, "job", "scaling-events", "web")
	if code != 0 || !strings.Contains(out, "Task Group") || strings.Count(out, "submitted using the orch CLI") != 2 {
		t.Fatalf("scaling-events: %d %q %q", code, out, errs)
	}
	if code, _, errs := e.run(t, "job", "scale", "web", "x"); code != 1 || !strings.Contains(errs, "not a whole number") {
		t.Fatalf("bad count: %d %q", code, errs)
	}
	if code, _, errs := e.run(t, "job", "scale", "web", "nope", "2"); code != 1 || !strings.Contains(errs, `task group "nope" specified for scaling does not exist`) {
		t.Fatalf("unknown group: %d %q", code, errs)
	}
}
