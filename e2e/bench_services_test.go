package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// benchServices is how many services the catalog job registers (each in
// every one of its benchAllocs allocations); benchWatched is how many of
// them the watching template reads.
const (
	benchServices = 1000
	benchAllocs   = 3
	benchWatched  = 100
)

func catalogJob() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job \"catalog\" {\n  datacenters = [\"*\"]\n  group \"g\" {\n    count = %d\n", benchAllocs)
	for i := 0; i < benchServices; i++ {
		fmt.Fprintf(&b, "    service {\n      name = \"svc-%d\"\n      tags = [\"t%d\"]\n    }\n", i, i%7)
	}
	b.WriteString(`    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
`)
	return b.String()
}

// watcherJob's template reads benchWatched services and a variable.
func watcherJob() string {
	return fmt.Sprintf(`job "watcher" {
  datacenters = ["*"]
  group "w" {
    task "w" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      template {
        destination = "local/out"
        change_mode = "noop"
        data        = <<EOT
{{ range $i := loop %d }}{{ range nomadService (printf "svc-%%d" $i) }}{{ .ID }}
{{ end }}{{ end }}version={{ with nomadVar "nomad/jobs/watcher" }}{{ .v }}{{ end }}
EOT
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
`, benchWatched)
}

// BenchmarkTemplatePropagation measures how long one change takes to reach
// a watching template, with 1,000 services × 3 allocations registered: an
// instance deleted from the catalog (DELETE /v1/service/<name>/<id>), and
// a variable written (PUT /v1/var/<path>), each until the rendered file no
// longer holds / holds the new value. b.N changes of each kind.
// Run: go test -run '^$' -bench TemplatePropagation -benchtime 200x ./e2e/
func BenchmarkTemplatePropagation(b *testing.B) {
	if b.N > benchWatched*benchAllocs {
		b.Fatalf("at most %d deletions", benchWatched*benchAllocs)
	}
	dataDir := b.TempDir()
	a := startAgent(b, newIP(), dataDir, "-dev")
	jt := trackJobs(b, a)
	waitReadyB(b, a)
	if out, code := a.cli(b, "var", "put", "nomad/jobs/watcher", "v=0"); code != 0 {
		b.Fatalf("var put: %s", out)
	}
	start := time.Now()
	jt.run("catalog", catalogJob())
	waitFor(b, 120*time.Second, "the catalog's registrations", func() (bool, string) {
		var list []*structs.ServiceRegistrationListStub
		if err := getJSON(a.addr()+"/v1/services", &list); err != nil || len(list) == 0 {
			return false, fmt.Sprint(err)
		}
		regs := serviceInstances(b, a, fmt.Sprintf("svc-%d", benchServices-1))
		return len(list[0].Services) == benchServices && len(regs) == benchAllocs, fmt.Sprintf("%d services", len(list[0].Services))
	})
	b.Logf("%d registrations in %s", benchServices*benchAllocs, time.Since(start).Round(time.Millisecond))

	jt.run("watcher", watcherJob())
	id := jt.oneAlloc("watcher")
	out := filepath.Join(dataDir, "alloc", id, "w", "local", "out")
	waitFor(b, 60*time.Second, "the first render", func() (bool, string) {
		data, _ := os.ReadFile(out)
		return strings.Count(string(data), "\n") == benchWatched*benchAllocs+1, fmt.Sprintf("%d lines", strings.Count(string(data), "\n"))
	})
	var victims []*structs.ServiceRegistration
	for i := 0; i < benchWatched; i++ {
		victims = append(victims, serviceInstances(b, a, fmt.Sprintf("svc-%d", i))...)
	}

	await := func(what string, cond func(string) bool) time.Duration {
		t0 := time.Now()
		var data []byte
		for time.Since(t0) < 10*time.Second {
			data, _ = os.ReadFile(out)
			if cond(string(data)) {
				return time.Since(t0)
			}
			time.Sleep(500 * time.Microsecond)
		}
		tail := string(data)
		if len(tail) > 300 {
			tail = tail[len(tail)-300:]
		}
		b.Logf("agent log:\n%s", tail2(a.logs.String()))
		b.Fatalf("the template did not follow %s within 10s; it ends with %q", what, tail)
		return 0
	}
	del := make([]time.Duration, 0, b.N)
	vars := make([]time.Duration, 0, b.N)
	var delCall, varCall []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := victims[i]
		req, _ := http.NewRequest(http.MethodDelete, a.addr()+"/v1/service/"+v.ServiceName+"/"+v.ID, nil)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("delete %s: %v %v", v.ID, err, resp)
		}
		resp.Body.Close()
		d := time.Since(t0)
		prop := await("the deletion of "+v.ID, func(s string) bool { return !strings.Contains(s, v.ID+"\n") })
		del = append(del, d+prop)
		delCall = append(delCall, d)

		body := fmt.Sprintf(`{"Items":{"v":"%d"}}`, i+1)
		req, _ = http.NewRequest(http.MethodPut, a.addr()+"/v1/var/nomad/jobs/watcher", strings.NewReader(body))
		t0 = time.Now()
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("var put: %v %v", err, resp)
		}
		resp.Body.Close()
		d2 := time.Since(t0)
		want := fmt.Sprintf("version=%d\n", i+1)
		prop2 := await(want, func(s string) bool { return strings.Contains(s, want) })
		vars = append(vars, d2+prop2)
		varCall = append(varCall, d2)
		if os.Getenv("ORCH_BENCH_VERBOSE") != "" {
			b.Logf("%s", time.Now().Format("15:04:05.000"))
			b.Logf("iteration %d: delete call %s + propagation %s; var call %s + propagation %s", i, d, prop, d2, prop2)
		}
	}
	b.StopTimer()
	report := func(name string, lat []time.Duration) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report("delete", del)
	report("var", vars)
	report("delete-call", delCall)
	report("var-call", varCall)
}

func tail2(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 30 {
		keep = keep[len(keep)-30:]
	}
	return strings.Join(keep, "\n")
}
