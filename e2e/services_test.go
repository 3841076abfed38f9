package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// webJob runs busybox httpd instances behind a group service with an http
// check; local/health is what the check reads.
func webJob(count int) string {
	return fmt.Sprintf(`job "web" {
  datacenters = ["*"]
  group "web" {
    count = %d
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      tags = ["v1", "${NOMAD_ALLOC_INDEX}"]
      meta {
        index = "${NOMAD_ALLOC_INDEX}"
      }
      check {
        name     = "alive"
        type     = "http"
        path     = "/health"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "httpd" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ok > local/health; exec busybox httpd -f -p ${NOMAD_PORT_http} -h local"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, count)
}

// consumerJob renders the web service's instances into local/upstreams
// and restarts when they change.
const consumerJob = `job "consumer" {
  datacenters = ["*"]
  group "c" {
    task "c" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/upstreams; exec sleep 600"]
      }
      template {
        destination = "local/upstreams"
        change_mode = "restart"
        splay       = "0s"
        data        = <<EOT
{{ range nomadService "web" }}{{ .Address }}:{{ .Port }} {{ .Tags }}
{{ end }}
EOT
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

func serviceInstances(t testing.TB, a *agentProc, name string) []*structs.ServiceRegistration {
	var regs []*structs.ServiceRegistration
	if err := getJSON(a.addr()+"/v1/service/"+name, &regs); err != nil {
		return nil
	}
	return regs
}

func countLines(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

// TestServiceDiscoveryTemplateFollowsInstances is issue 9's first "done
// when": a web service with an http check, and a client task whose
// template renders the service's instances; when an instance goes, the
// template re-renders within about a second and the client restarts.
func TestServiceDiscoveryTemplateFollowsInstances(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, newIP(), dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("web", webJob(2))
	waitFor(t, 30*time.Second, "two passing web instances", func() (bool, string) {
		regs := serviceInstances(t, a, "web")
		passing := 0
		for _, r := range regs {
			if r.Status == structs.HealthPassing {
				passing++
			}
		}
		return passing == 2, fmt.Sprintf("%d instances, %d passing", len(regs), passing)
	})

	// The stock Nomad client reads the catalog and the checks.
	nc, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := nc.Services().List(nil)
	if err != nil || len(list) != 1 || list[0].Services[0].ServiceName != "web" {
		t.Fatalf("nomad api service list: %+v %v", list, err)
	}
	got, _, err := nc.Services().Get("web", nil)
	if err != nil || len(got) != 2 || got[0].Port == 0 {
		t.Fatalf("nomad api service get: %+v %v", got, err)
	}
	checks, err := nc.Allocations().Checks(got[0].AllocID, nil)
	if err != nil || len(checks) != 1 {
		t.Fatalf("nomad api alloc checks: %+v %v", checks, err)
	}
	for _, c := range checks {
		if c.Status != "success" || c.Check != "alive" || c.Service != "web" || c.Mode != "healthiness" || !strings.Contains(c.Output, "200 OK") {
			t.Fatalf("check result %+v", c)
		}
	}
	out, code := a.cli(t, "alloc", "status", got[0].AllocID)
	if code != 0 || !strings.Contains(out, "Nomad Service Checks:") || !strings.Contains(out, "alive") || !strings.Contains(out, "success") {
		t.Fatalf("alloc status: exit %d\n%s", code, out)
	}
	out, code = a.cli(t, "service", "info", "web")
	if code != 0 || countLines(out) != 3 {
		t.Fatalf("service info: exit %d\n%s", code, out)
	}

	jt.run("consumer", consumerJob)
	cid := jt.oneAlloc("consumer")
	upstreams := filepath.Join(dataDir, "alloc", cid, "c", "local", "upstreams")
	waitFor(t, 30*time.Second, "the consumer's template with both instances", func() (bool, string) {
		b, _ := os.ReadFile(upstreams)
		return countLines(string(b)) == 2, string(b)
	})
	waitTaskState(t, a, cid, "c", 20*time.Second, "consumer running", func(al *structs.Allocation, ts *structs.TaskState) bool {
		return ts.State == structs.TaskStateRunning
	})
	before, _ := getAlloc(a, cid)
	restartsBefore := before.TaskStates["c"].Restarts

	// One instance goes: its registration is removed, the template follows.
	jt.run("web", webJob(1))
	var gone time.Time
	waitFor(t, 30*time.Second, "one web instance left", func() (bool, string) {
		regs := serviceInstances(t, a, "web")
		gone = time.Now()
		return len(regs) == 1, fmt.Sprintf("%d instances", len(regs))
	})
	var rendered time.Duration
	waitFor(t, 10*time.Second, "the template to follow", func() (bool, string) {
		b, _ := os.ReadFile(upstreams)
		rendered = time.Since(gone)
		return countLines(string(b)) == 1, string(b)
	})
	t.Logf("template re-rendered %s after the registration was removed", rendered.Round(time.Millisecond))
	if rendered > 1500*time.Millisecond {
		t.Fatalf("template followed the service %s after the change; want about a second", rendered)
	}
	waitTaskState(t, a, cid, "c", 20*time.Second, "the consumer restarted", func(al *structs.Allocation, ts *structs.TaskState) bool {
		return ts.Restarts > restartsBefore && ts.State == structs.TaskStateRunning
	})
}

// variableJob reads its password from nomad/jobs/app into its environment.
const variableJob = `job "app" {
  datacenters = ["*"]
  group "app" {
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \"password=$DB_PASSWORD\"; exec sleep 600"]
      }
      template {
        destination = "secrets/app.env"
        env         = true
        change_mode = "restart"
        splay       = "0s"
        data        = "DB_PASSWORD={{ with nomadVar \"nomad/jobs/app\" }}{{ .db_password }}{{ end }}"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestVariableTemplateEnvRestarts is issue 9's second "done when": a
// variable written with orch var put reaches the task's environment through
// a template, and updating it restarts the task with the new value.
func TestVariableTemplateEnvRestarts(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, newIP(), dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	if out, code := a.cli(t, "var", "put", "nomad/jobs/app", "db_password=first"); code != 0 {
		t.Fatalf("var put: exit %d\n%s", code, out)
	}
	jt.run("app", variableJob)
	id := jt.oneAlloc("app")
	waitFor(t, 30*time.Second, "the first password in the task's output", func() (bool, string) {
		out, _ := a.cli(t, "alloc", "logs", id, "app")
		return strings.Contains(out, "password=first"), out
	})
	secret := filepath.Join(dataDir, "alloc", id, "app", "secrets", "app.env")
	if b, err := os.ReadFile(secret); err != nil || string(b) != "DB_PASSWORD=first" {
		t.Fatalf("rendered env file %q %v", b, err)
	}
	if out, code := a.cli(t, "var", "put", "nomad/jobs/app", "db_password=second"); code != 0 {
		t.Fatalf("var put: exit %d\n%s", code, out)
	}
	waitFor(t, 20*time.Second, "the task restarted with the new password", func() (bool, string) {
		out, _ := a.cli(t, "alloc", "logs", id, "app")
		return strings.Contains(out, "password=second"), out
	})
	// The servers learn of the restart in the client's next updates.
	waitTaskState(t, a, id, "app", 10*time.Second, "a template restart event, counted", func(al *structs.Allocation, ts *structs.TaskState) bool {
		for _, e := range ts.Events {
			if e.Type == structs.TaskRestartSignal && strings.Contains(e.DisplayMessage, "Template") {
				return ts.Restarts >= 1
			}
		}
		return false
	})
}

// checkedJob is a task service with an http check that check_restart
// watches, and a script check run inside the task.
const checkedJob = `job "checked" {
  datacenters = ["*"]
  group "g" {
    network {
      port "http" {}
    }
    restart {
      attempts = 5
      delay    = "1s"
      interval = "5m"
      mode     = "fail"
    }
    task "httpd" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ok > local/health; exec busybox httpd -f -p ${NOMAD_PORT_http} -h local"]
      }
      service {
        name = "checked"
        port = "http"
        check {
          name     = "http-health"
          type     = "http"
          path     = "/health"
          interval = "1s"
          timeout  = "1s"
          check_restart {
            limit = 2
            grace = "2s"
          }
        }
        check {
          name     = "file-present"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -f local/health || { echo health file missing; exit 2; }"]
          interval = "1s"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestTaskServiceChecksAndCheckRestart is issue 9's third "done when": a
// failing check shows in orch alloc status, and check_restart restarts the
// task, after which the check passes again.
func TestTaskServiceChecksAndCheckRestart(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, newIP(), dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("checked", checkedJob)
	id := jt.oneAlloc("checked")
	statusOf := func() string {
		out, _ := a.cli(t, "alloc", "status", id)
		return out
	}
	waitFor(t, 30*time.Second, "both checks passing", func() (bool, string) {
		out := statusOf()
		return strings.Count(out, "success") == 2, out
	})
	// The task's health file goes: both checks fail, alloc status shows
	// it, and check_restart restarts the task, which writes it again.
	health := filepath.Join(dataDir, "alloc", id, "httpd", "local", "health")
	if err := os.Remove(health); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the failing checks in alloc status", func() (bool, string) {
		out := statusOf()
		return strings.Contains(out, "failure") && strings.Contains(out, "health file missing"), out
	})
	// alloc checks shows each result in full; the script check's exit code
	// is its StatusCode.
	out, code := a.cli(t, "alloc", "checks", id[:8])
	if code != 0 || !strings.Contains(out, "Status of 2 Nomad Service Checks") || !strings.Contains(out, "Name       = file-present") {
		t.Fatalf("alloc checks: exit %d\n%s", code, out)
	}
	al := waitTaskState(t, a, id, "httpd", 30*time.Second, "check_restart's restart", func(al *structs.Allocation, ts *structs.TaskState) bool {
		for _, e := range ts.Events {
			if e.Type == structs.TaskRestartSignal && strings.Contains(e.RestartReason, "http-health") {
				return ts.Restarts >= 1
			}
		}
		return false
	})
	if al.ClientStatus != structs.AllocClientStatusRunning && al.ClientStatus != structs.AllocClientStatusPending {
		t.Fatalf("allocation %s after the restart", al.ClientStatus)
	}
	waitFor(t, 30*time.Second, "checks passing again", func() (bool, string) {
		out := statusOf()
		return strings.Count(out, "success") == 2, out
	})
}

// canaryJob is one instance with a service that has canary tags and meta,
// a canary for every destructive update, and health from its check.
func canaryJob(tag, msg string, admin bool) string {
	extra := ""
	if admin {
		extra = `
    service {
      name = "web-admin"
      port = "http"
    }`
	}
	return fmt.Sprintf(`job "cw" {
  datacenters = ["*"]
  update {
    max_parallel     = 1
    canary           = 1
    health_check     = "checks"
    min_healthy_time = "1s"
    healthy_deadline = "1m"
  }
  group "web" {
    network {
      port "http" {}
    }
    service {
      name        = "cw"
      port        = "http"
      tags        = [%q]
      canary_tags = ["canary"]
      meta {
        role = "live"
      }
      canary_meta {
        role = "canary"
      }
      check {
        type     = "http"
        path     = "/health"
        interval = "500ms"
        timeout  = "1s"
      }
    }%s
    task "httpd" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo %s; echo ok > local/health; exec busybox httpd -f -p ${NOMAD_PORT_http} -h local"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, tag, extra, msg)
}

// TestServiceCanaryTagsAndInPlaceUpdates: a service block changed in place
// (new tags, a new service) is re-registered without touching the task; a
// canary registers canary_tags and canary_meta until promoted, then its
// normal ones; the deployment waits for the canary's check (health_check
// = "checks").
func TestServiceCanaryTagsAndInPlaceUpdates(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("cw", canaryJob("v1", "one", false))
	first := jt.oneAlloc("cw")
	tagsOf := func(r *structs.ServiceRegistration) string { return strings.Join(r.Tags, ",") + "/" + r.Meta["role"] }
	waitFor(t, 30*time.Second, "the first instance, tagged v1", func() (bool, string) {
		regs := serviceInstances(t, a, "cw")
		return len(regs) == 1 && tagsOf(regs[0]) == "v1/live" && regs[0].Status == structs.HealthPassing, fmt.Sprintf("%+v", regs)
	})

	// In place: new tags and a second service; same allocation, task not
	// restarted.
	jt.run("cw", canaryJob("v2", "one", true))
	waitFor(t, 30*time.Second, "tags v2 and the admin service, in place", func() (bool, string) {
		regs, admin := serviceInstances(t, a, "cw"), serviceInstances(t, a, "web-admin")
		return len(regs) == 1 && tagsOf(regs[0]) == "v2/live" && regs[0].AllocID == first &&
			len(admin) == 1 && admin[0].AllocID == first, fmt.Sprintf("%+v %+v", regs, admin)
	})
	var al structs.Allocation
	if err := getJSON(a.addr()+"/v1/allocation/"+first, &al); err != nil || al.TaskStates["httpd"].Restarts != 0 {
		t.Fatalf("in-place update restarted the task: %v %+v", err, al.TaskStates["httpd"])
	}

	// Destructive: a canary beside the old instance, with canary tags.
	jt.run("cw", canaryJob("v2", "two", true))
	var canary string
	var d *structs.Deployment
	waitFor(t, 60*time.Second, "a healthy canary registered with canary tags", func() (bool, string) {
		d = latestDeployment(a, "cw")
		if d == nil || d.JobVersion != 2 || len(d.TaskGroups["web"].PlacedCanaries) != 1 || d.TaskGroups["web"].HealthyAllocs != 1 {
			return false, fmt.Sprintf("%+v", d)
		}
		canary = d.TaskGroups["web"].PlacedCanaries[0]
		var got []string
		for _, r := range serviceInstances(t, a, "cw") {
			if r.AllocID == canary {
				got = append(got, tagsOf(r))
			}
		}
		return len(got) == 1 && got[0] == "canary/canary", fmt.Sprint(got)
	})
	if out, code := a.cli(t, "deployment", "promote", "-detach", d.ID[:8]); code != 0 {
		t.Fatalf("deployment promote: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "only the promoted canary, with its normal tags", func() (bool, string) {
		regs := serviceInstances(t, a, "cw")
		return len(regs) == 1 && regs[0].AllocID == canary && tagsOf(regs[0]) == "v2/live", fmt.Sprintf("%+v", regs)
	})
}

// scriptCheckJob runs a task that writes a marker into its own filesystem
// and a script check that reads it: the check passes only when it runs
// inside the task (container or chroot), not on the host.
func scriptCheckJob(driver string) string {
	cfg := `command = "/bin/sh"
        args    = ["-c", "echo inside-$NOMAD_ALLOC_ID > /tmp/orch-check-marker; exec sleep 600"]`
	if driver == "docker" {
		cfg = `image   = ` + hclString(busyboxImage) + `
        command = "sh"
        args    = ["-c", "echo inside-$NOMAD_ALLOC_ID > /tmp/orch-check-marker; exec sleep 600"]`
	}
	return fmt.Sprintf(`job "sc" {
  datacenters = ["*"]
  group "g" {
    task "t" {
      driver = %q
      config {
        %s
      }
      service {
        name = "sc"
        check {
          name     = "marker"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "cat /tmp/orch-check-marker"]
          interval = "1s"
          timeout  = "3s"
        }
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
`, driver, cfg)
}

// TestScriptChecksRunInsideIsolatedTasks: a script check of an exec or
// docker task runs in the task's own filesystem through the driver's exec.
func TestScriptChecksRunInsideIsolatedTasks(t *testing.T) {
	for _, driver := range []string{"exec", "docker"} {
		t.Run(driver, func(t *testing.T) {
			needDriver(t, driver)
			a := startAgent(t, newIP(), t.TempDir(), "-dev")
			jt := trackJobs(t, a)
			waitReady(t, a, 1)
			jt.run("sc", scriptCheckJob(driver))
			id := jt.oneAlloc("sc")
			want := "inside-" + id
			waitFor(t, 60*time.Second, "the script check passing with the task's marker", func() (bool, string) {
				var res map[string]*structs.CheckQueryResult
				if err := getJSON(a.addr()+"/v1/client/allocation/"+id+"/checks", &res); err != nil {
					return false, err.Error()
				}
				for _, r := range res {
					if r.Status == structs.CheckSuccess && strings.TrimSpace(r.Output) == want {
						return true, ""
					}
					return false, fmt.Sprintf("%+v", r)
				}
				return false, "no results"
			})
			if b, err := os.ReadFile("/tmp/orch-check-marker"); err == nil && strings.Contains(string(b), id) {
				t.Fatal("the task wrote its marker on the host: the check proves nothing")
			}
			waitFor(t, 10*time.Second, "the registration passing", func() (bool, string) {
				regs := serviceInstances(t, a, "sc")
				return len(regs) == 1 && regs[0].Status == structs.HealthPassing, fmt.Sprintf("%+v", regs)
			})
		})
	}
}
