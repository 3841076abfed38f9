package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestArtifactE2E: through a real agent, an exec task's artifacts are
// fetched from a server the test runs (a checksummed script and a tar.gz
// unpacked into local/) before it starts, with a "Downloading Artifacts"
// event; a kill -9 and restart of the agent does not fetch them again; a
// checksum mismatch fails the task with "Failed Artifact Download".
func TestArtifactE2E(t *testing.T) {
	ip := newIP()
	script := []byte("#!/bin/sh\necho \"app says $(cat ${NOMAD_TASK_DIR}/pkg/conf.txt)\"\nexec sleep 600\n")
	sum := sha256.Sum256(script)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "conf.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	zw.Close()
	var gets atomic.Int32
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		switch r.URL.Path {
		case "/app.sh":
			w.Write(script)
		case "/pkg.tar.gz":
			w.Write(gz.Bytes())
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("art", fmt.Sprintf(`job "art" {
  group "g" {
    task "app" {
      driver = "exec"
      artifact {
        source      = "%s/app.sh"
        destination = "local/app.sh"
        mode        = "file"
        options {
          checksum = "sha256:%s"
        }
      }
      artifact {
        source      = "%s/pkg.tar.gz"
        destination = "local/pkg"
      }
      config {
        command = "/bin/sh"
        args    = ["local/app.sh"]
      }
      resources {
        memory = 32
      }
    }
  }
}
`, base, hex.EncodeToString(sum[:]), base))
	id := jt.oneAlloc("art")
	out := taskLogUntil(t, a, id, "app", "app says hello")
	t.Logf("task output: %q", out)
	al := waitTaskState(t, a, id, "app", 10*time.Second, "running after its download event",
		func(al *structs.Allocation, ts *structs.TaskState) bool {
			if ts == nil || ts.State != structs.TaskStateRunning {
				return false
			}
			for _, e := range ts.Events {
				if e.Type == structs.TaskDownloadingArtifacts {
					return true
				}
			}
			return false
		})
	_ = al
	fetched := gets.Load()
	if fetched != 2 {
		t.Fatalf("%d GETs for two artifacts", fetched)
	}

	// kill -9 and restart: the task is re-attached, nothing fetched again.
	a.kill()
	a.start()
	jt.setAgent(a)
	waitReady(t, a, 1)
	waitAllocs(t, a, "art", 1, "running", 30*time.Second)
	time.Sleep(2 * time.Second)
	if n := gets.Load(); n != fetched {
		t.Fatalf("restarted agent fetched again: %d GETs, was %d", n, fetched)
	}

	// A checksum that does not match fails the task with the reason.
	jt.run("badsum", fmt.Sprintf(`job "badsum" {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "app" {
      driver = "raw_exec"
      artifact {
        source = "%s/app.sh"
        options {
          checksum = "sha256:%s"
        }
      }
      config {
        command = "/bin/true"
      }
    }
  }
}
`, base, strings.Repeat("0", 64)))
	bid := jt.oneAlloc("badsum")
	waitTaskState(t, a, bid, "app", 30*time.Second, "failed artifact download",
		func(al *structs.Allocation, ts *structs.TaskState) bool {
			if ts == nil || !ts.Failed {
				return false
			}
			for _, e := range ts.Events {
				if e.Type == structs.TaskArtifactDownloadFailed && strings.Contains(e.DisplayMessage, "checksum") {
					return true
				}
			}
			return false
		})
}
