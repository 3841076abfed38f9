package artifacts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the fetch helper, as orch does.
	if IsHelper() {
		HelperMain()
	}
	os.Exit(m.Run())
}

// harness is one task's alloc dir and an artifact hook for it.
type harness struct {
	dataDir string
	ad      *allocrunner.AllocDir
	task    *structs.Task
	alloc   *structs.Allocation
	mu      sync.Mutex
	events  []*structs.TaskEvent
	cfg     Config
}

func newHarness(t *testing.T, arts ...*structs.TaskArtifact) *harness {
	t.Helper()
	dataDir := t.TempDir()
	alloc := &structs.Allocation{ID: structs.GenerateUUID(), TaskGroup: "g", JobID: "j"}
	task := &structs.Task{Name: "web", Driver: "raw_exec", Artifacts: arts}
	alloc.Job = &structs.Job{ID: "j", Name: "j", TaskGroups: []*structs.TaskGroup{{Name: "g", Tasks: []*structs.Task{task}}}}
	ad := allocrunner.NewAllocDir(filepath.Join(dataDir, "alloc"), alloc.ID)
	if err := ad.Build([]string{"web"}); err != nil {
		t.Fatal(err)
	}
	return &harness{dataDir: dataDir, ad: ad, task: task, alloc: alloc, cfg: DefaultConfig()}
}

func (h *harness) taskDir() string { return h.ad.TaskDir("web") }

// prestart runs the hook's Prestart once, as the task runner does.
func (h *harness) prestart(t *testing.T, data map[string]string) (*hooks.TaskPrestartResponse, error) {
	t.Helper()
	td := h.taskDir()
	hc := &hooks.TaskHookConfig{
		Alloc: h.alloc, Task: h.task,
		AllocDir: hooks.AllocDir{Root: h.ad.Root, SharedDir: h.ad.SharedDir(), LogDir: h.ad.LogDir()},
		TaskDir:  hooks.TaskDir{Dir: td, LocalDir: td + "/local", SecretsDir: td + "/secrets", TmpDir: td + "/tmp"},
		Events: func(ev *structs.TaskEvent) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		},
	}
	hk := HookFactory(Setup{Config: h.cfg, DataDir: h.dataDir})(hc)
	if hk == nil {
		t.Fatal("no hook for a task with artifacts")
	}
	env := taskenv.Build(taskenv.NodeInfo{}, h.alloc, h.task, taskenv.IsolatedDirs)
	resp := &hooks.TaskPrestartResponse{}
	err := hk.(hooks.TaskPrestartHook).Prestart(context.Background(),
		&hooks.TaskPrestartRequest{Alloc: h.alloc, Task: h.task, TaskEnv: env, Data: data}, resp)
	return resp, err
}

// serve answers each path with its body and counts requests.
func serve(t *testing.T, files map[string][]byte) (*httptest.Server, *sync.Map) {
	t.Helper()
	hits := &sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			n, _ := hits.LoadOrStore(r.URL.Path, new(int))
			*(n.(*int))++
		}
		if want := files["header:"+r.URL.Path]; want != nil && r.Header.Get("X-Token") != string(want) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

type entry struct {
	name, body, link string
	typ              byte
}

func tgz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (h *harness) lastEvent() *structs.TaskEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

// TestArtifactChecksum: a file whose sha256 matches is placed at its
// destination; a mismatch fails the fetch (recoverably, with a "Failed
// Artifact Download" event) and places nothing.
func TestArtifactChecksum(t *testing.T) {
	body := []byte("#!/bin/sh\necho app\n")
	srv, _ := serve(t, map[string][]byte{"/app.sh": body})
	h := newHarness(t,
		&structs.TaskArtifact{GetterSource: srv.URL + "/app.sh", GetterOptions: map[string]string{"checksum": "sha256:" + sha(body)},
			GetterMode: "any", RelativeDest: "local/"})
	resp, err := h.prestart(t, nil)
	if err != nil || !resp.Done {
		t.Fatalf("prestart: %v done=%v", err, resp.Done)
	}
	if got, err := os.ReadFile(filepath.Join(h.taskDir(), "local", "app.sh")); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("placed file %q: %v", got, err)
	}

	bad := newHarness(t,
		&structs.TaskArtifact{GetterSource: srv.URL + "/app.sh", GetterOptions: map[string]string{"checksum": "sha256:" + sha([]byte("other"))},
			GetterMode: "any", RelativeDest: "local/"})
	resp, err = bad.prestart(t, nil)
	if err == nil || resp.Done || drivers.IsNonRecoverable(err) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("mismatch: err %v done %v", err, resp.Done)
	}
	if ev := bad.lastEvent(); ev == nil || ev.Type != structs.TaskArtifactDownloadFailed || !strings.Contains(ev.Details["download_error"], "checksum") {
		t.Fatalf("event %+v", ev)
	}
	if _, err := os.Stat(filepath.Join(bad.taskDir(), "local", "app.sh")); !os.IsNotExist(err) {
		t.Fatalf("a file failing its checksum was placed: %v", err)
	}
}

// TestArtifactArchiveUnpacked: a .tar.gz is unpacked into the
// destination, with headers sent, and a second Prestart (a task or agent
// restart) fetches nothing again.
func TestArtifactArchiveUnpacked(t *testing.T) {
	arch := tgz(t, entry{name: "bin/", typ: tar.TypeDir}, entry{name: "bin/run", body: "run"}, entry{name: "conf.txt", body: "conf"})
	srv, hits := serve(t, map[string][]byte{"/pkg.tar.gz": arch, "header:/pkg.tar.gz": []byte("secret")})
	h := newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + "/pkg.tar.gz", GetterMode: "any",
		GetterHeaders: map[string]string{"X-Token": "secret"}, RelativeDest: "local/pkg"})
	resp, err := h.prestart(t, nil)
	if err != nil || !resp.Done {
		t.Fatalf("prestart: %v", err)
	}
	for f, want := range map[string]string{"local/pkg/bin/run": "run", "local/pkg/conf.txt": "conf"} {
		if got, err := os.ReadFile(filepath.Join(h.taskDir(), f)); err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v", f, got, err)
		}
	}
	resp, err = h.prestart(t, resp.Data)
	if err != nil || !resp.Done {
		t.Fatalf("second prestart: %v", err)
	}
	if n, _ := hits.Load("/pkg.tar.gz"); *(n.(*int)) != 1 {
		t.Fatalf("fetched %d times", *(n.(*int)))
	}
}

// TestArtifactArchiveEscapes: archives with ".." entries, symlinks or hard
// links are refused before anything is unpacked.
func TestArtifactArchiveEscapes(t *testing.T) {
	cases := map[string][]byte{
		"/dotdot.tar.gz":   tgz(t, entry{name: "ok.txt", body: "ok"}, entry{name: "../../../escaped.txt", body: "x"}),
		"/symlink.tar.gz":  tgz(t, entry{name: "etc", typ: tar.TypeSymlink, link: "/etc"}, entry{name: "etc/passwd", body: "x"}),
		"/hardlink.tar.gz": tgz(t, entry{name: "shadow", typ: tar.TypeLink, link: "/etc/shadow"}),
	}
	srv, _ := serve(t, cases)
	for p, want := range map[string]string{"/dotdot.tar.gz": "escapes", "/symlink.tar.gz": "link", "/hardlink.tar.gz": "link"} {
		h := newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + p, GetterMode: "any", RelativeDest: "local/"})
		_, err := h.prestart(t, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want a refusal mentioning %q", p, err, want)
		}
		if ents, _ := os.ReadDir(filepath.Join(h.taskDir(), "local")); len(ents) != 0 {
			t.Fatalf("%s: placed %v", p, ents)
		}
		if _, err := os.Stat(filepath.Join(h.dataDir, "escaped.txt")); !os.IsNotExist(err) {
			t.Fatalf("%s: wrote outside the destination", p)
		}
	}
}

// TestArtifactSizeLimits: http_max_size and the decompression limits stop
// a download or an archive that is too large.
func TestArtifactSizeLimits(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1<<20)
	many := []entry{}
	for i := 0; i < 20; i++ {
		many = append(many, entry{name: fmt.Sprintf("f%d", i), body: "x"})
	}
	srv, _ := serve(t, map[string][]byte{"/big.bin": big, "/many.tar.gz": tgz(t, many...),
		"/bomb.tar.gz": tgz(t, entry{name: "big", body: string(big)})})

	h := newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + "/big.bin", GetterMode: "any", RelativeDest: "local/"})
	h.cfg.HTTPMaxBytes = 1000
	if _, err := h.prestart(t, nil); err == nil || !strings.Contains(err.Error(), "http_max_size") {
		t.Fatalf("a 1 MiB download and http_max_size = 1000: %v", err)
	}
	h = newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + "/many.tar.gz", GetterMode: "any", RelativeDest: "local/"})
	h.cfg.DecompressionFileCountLimit = 10
	if _, err := h.prestart(t, nil); err == nil || !strings.Contains(err.Error(), "more than 10 files") {
		t.Fatalf("file count limit: %v", err)
	}
	h = newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + "/bomb.tar.gz", GetterMode: "any", RelativeDest: "local/"})
	h.cfg.DecompressionSizeLimit = 1000
	if _, err := h.prestart(t, nil); err == nil || !strings.Contains(err.Error(), "more than 1000 bytes") {
		t.Fatalf("size limit: %v", err)
	}
}

// TestArtifactSandbox: a file:// source can read the task's directory but
// not the host's secrets (the fetch runs confined), and a destination
// outside the task directory fails the task for good.
func TestArtifactSandbox(t *testing.T) {
	if !IsolationAvailable() {
		t.Skip("no Landlock on this kernel")
	}
	h := newHarness(t, &structs.TaskArtifact{GetterSource: "file:///etc/shadow", GetterMode: "file", RelativeDest: "local/shadow"})
	if _, err := h.prestart(t, nil); err == nil {
		t.Fatal("fetched /etc/shadow into the task")
	}
	if _, err := os.Stat(filepath.Join(h.taskDir(), "local", "shadow")); !os.IsNotExist(err) {
		t.Fatalf("placed: %v", err)
	}

	h = newHarness(t, &structs.TaskArtifact{GetterSource: "local/in.txt", GetterMode: "file", RelativeDest: "local/copy.txt"})
	os.WriteFile(filepath.Join(h.taskDir(), "local", "in.txt"), []byte("mine"), 0o644)
	if _, err := h.prestart(t, nil); err != nil {
		t.Fatalf("copying the task's own file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.taskDir(), "local", "copy.txt")); string(b) != "mine" {
		t.Fatalf("copy = %q", b)
	}

	h = newHarness(t, &structs.TaskArtifact{GetterSource: "local/in.txt", GetterMode: "file", RelativeDest: "../other/x"})
	_, err := h.prestart(t, nil)
	if err == nil || !drivers.IsNonRecoverable(err) || !strings.Contains(err.Error(), "escapes the task directory") {
		t.Fatalf("escaping destination: %v", err)
	}
}

// TestArtifactPlantedLink: a link the task left at the destination is not
// followed: the fetch fails instead of writing through it.
func TestArtifactPlantedLink(t *testing.T) {
	srv, _ := serve(t, map[string][]byte{"/f.txt": []byte("data")})
	h := newHarness(t, &structs.TaskArtifact{GetterSource: srv.URL + "/f.txt", GetterMode: "any", RelativeDest: "local/out"})
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(h.taskDir(), "local", "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.prestart(t, nil); err == nil {
		t.Fatal("placed through a planted link")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote through the link: %v", ents)
	}
}
