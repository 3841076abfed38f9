package migrate

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// mkAllocDir builds an allocation directory as the alloc runner does, with
// the given files (relative name -> content) written into it.
func mkAllocDir(t *testing.T, root string, tasks []string, files map[string]string) {
	t.Helper()
	dirs := []string{"alloc/data", "alloc/logs", "alloc/tmp"}
	for _, tk := range tasks {
		dirs = append(dirs, tk+"/local", tk+"/secrets", tk+"/tmp")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

// hostile plants what a task could leave in its directories: links out of
// the allocation, a FIFO, a hard link to a file outside.
func hostile(t *testing.T, root, outside string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("/etc/passwd", filepath.Join(root, "alloc/data/passwd")))
	must(os.Symlink(outside, filepath.Join(root, "web/local/outside-dir")))
	must(syscall.Mkfifo(filepath.Join(root, "alloc/data/fifo"), 0o600))
	secret := filepath.Join(outside, "secret")
	must(os.WriteFile(secret, []byte("host secret"), 0o600))
	must(os.Link(secret, filepath.Join(root, "alloc/data/hardlink")))
}

func TestArchiveRoundTripSkipsLinksAndSpecialFiles(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	mkAllocDir(t, src, []string{"web", "side"}, map[string]string{
		"alloc/data/db/state.json": `{"v":1}`,
		"web/local/cache.bin":      "cache",
		"side/local/x":             "side",
		"web/secrets/token":        "never moved",
		"alloc/logs/web.stdout.0":  "logs stay",
	})
	hostile(t, src, outside)
	if err := os.Chown(filepath.Join(src, "web/local/cache.bin"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r, err := safefs.OpenRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	skipped, err := WriteArchive(&buf, r, []string{"web", "side"})
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 4 {
		t.Fatalf("skipped %d entries, want 4 (2 links, a FIFO, a hard link)", skipped)
	}
	d, err := safefs.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := Extract(&buf, d, Limits{Bytes: 1 << 20, Files: 100}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dst, "alloc/data/db/state.json")); got != `{"v":1}` {
		t.Fatalf("state.json = %q", got)
	}
	if got := readFile(t, filepath.Join(dst, "side/local/x")); got != "side" {
		t.Fatalf("side/local/x = %q", got)
	}
	fi, err := os.Stat(filepath.Join(dst, "web/local/cache.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("owner %d mode %v not kept", st.Uid, fi.Mode())
	}
	for _, gone := range []string{"web/secrets/token", "alloc/logs/web.stdout.0", "alloc/data/passwd",
		"alloc/data/fifo", "alloc/data/hardlink", "web/local/outside-dir"} {
		if _, err := os.Lstat(filepath.Join(dst, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s migrated: %v", gone, err)
		}
	}
}

// tarOf builds an archive from hand-made headers, as a hostile peer could.
func tarOf(t *testing.T, hs ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	reg := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644}
	}
	outside := t.TempDir()
	for name, hs := range map[string][]*tar.Header{
		"symlink":      {{Typeflag: tar.TypeSymlink, Name: "alloc/data/l", Linkname: outside}},
		"hard link":    {reg("alloc/data/a", 1), {Typeflag: tar.TypeLink, Name: "alloc/data/b", Linkname: "alloc/data/a"}},
		"device":       {{Typeflag: tar.TypeChar, Name: "alloc/data/null", Devmajor: 1, Devminor: 3}},
		"fifo":         {{Typeflag: tar.TypeFifo, Name: "alloc/data/fifo"}},
		"dotdot":       {reg("alloc/data/../../../escape", 1)},
		"absolute":     {reg(filepath.Join(outside, "abs"), 1)},
		"secrets":      {reg("web/secrets/token", 1)},
		"logs":         {reg("alloc/logs/x", 1)},
		"top level":    {reg("file", 1)},
		"too large":    {reg("alloc/data/a", 600), reg("alloc/data/b", 600)},
		"too many":     {reg("alloc/data/1", 1), reg("alloc/data/2", 1), reg("alloc/data/3", 1), reg("alloc/data/4", 1)},
		"link in path": {{Typeflag: tar.TypeDir, Name: "alloc/data/d", Mode: 0o755}, reg("alloc/data/d/f", 1)},
	} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			if name == "link in path" {
				// A directory the archive writes through is a link
				// (planted in the destination): not followed.
				if err := os.MkdirAll(filepath.Join(dst, "alloc/data"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, filepath.Join(dst, "alloc/data/d")); err != nil {
					t.Fatal(err)
				}
			}
			d, err := safefs.OpenRoot(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			err = Extract(tarOf(t, hs...), d, Limits{Bytes: 1000, Files: 3})
			if err == nil {
				t.Fatalf("accepted")
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 0 {
				t.Fatalf("wrote outside the destination: %v", ents)
			}
		})
	}
}

// recorder is the allocation's lifecycle as the hook sees it.
type recorder struct {
	mu     sync.Mutex
	events []*structs.TaskEvent
}

func (r *recorder) Kill(string, bool)                         {}
func (r *recorder) TaskStates() map[string]*structs.TaskState { return nil }
func (r *recorder) SetHealth(string, bool)                    {}
func (r *recorder) Event(ev *structs.TaskEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}
func (r *recorder) messages() string { r.mu.Lock(); defer r.mu.Unlock(); return evText(r.events) }
func evText(evs []*structs.TaskEvent) (s string) {
	for _, e := range evs {
		s += e.DisplayMessage + "\n"
	}
	return s
}

// fakeSource serves a previous allocation from a local directory, or
// describes one on another node served by srv.
type fakeSource struct {
	localDir  string
	localDone chan struct{}
	info      *control.MigrateInfoResponse
	fetches   int
	fetch     func(ctx context.Context) (io.ReadCloser, error)
}

func (f *fakeSource) LocalAlloc(string) (string, <-chan struct{}, bool) {
	if f.localDir == "" {
		return "", nil, false
	}
	return f.localDir, f.localDone, true
}

func (f *fakeSource) Info(context.Context, string) (*control.MigrateInfoResponse, error) {
	return f.info, nil
}

func (f *fakeSource) Fetch(ctx context.Context, _ *control.MigrateInfoResponse) (io.ReadCloser, error) {
	f.fetches++
	return f.fetch(ctx)
}

func stickyAlloc(id, prev string, sticky, migrate bool) *structs.Allocation {
	return &structs.Allocation{ID: id, NodeID: "node-b", PreviousAllocation: prev, TaskGroup: "g",
		Job: &structs.Job{ID: "j", TaskGroups: []*structs.TaskGroup{{Name: "g",
			EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10, Sticky: sticky, Migrate: migrate},
			Tasks:         []*structs.Task{{Name: "web"}}}}}}
}

func runHook(t *testing.T, allocRoot string, a *structs.Allocation, src Source) *recorder {
	t.Helper()
	rec := &recorder{}
	hc := &hooks.AllocHookConfig{Alloc: a, Logger: slog.New(slog.DiscardHandler), Lifecycle: rec,
		Dir: hooks.AllocDir{Root: filepath.Join(allocRoot, a.ID)}}
	h := HookFactory(Config{AllocRoot: allocRoot, Source: src, Wait: 5 * time.Second})(hc)
	if h == nil {
		t.Fatalf("no hook for %+v", a.Job.TaskGroups[0].EphemeralDisk)
	}
	resp := &hooks.AllocPrerunResponse{}
	if err := h.(hooks.AllocPrerunHook).Prerun(t.Context(), &hooks.AllocPrerunRequest{Alloc: a}, resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Done {
		t.Fatalf("hook not done")
	}
	return rec
}

// On the same node the previous allocation's data directories are renamed
// into the replacement once the previous allocation is terminal.
func TestHookMovesLocalDataAfterPreviousStops(t *testing.T) {
	allocRoot := t.TempDir()
	mkAllocDir(t, filepath.Join(allocRoot, "old"), []string{"web"}, map[string]string{
		"alloc/data/f": "v1 data", "web/local/l": "v1 local"})
	mkAllocDir(t, filepath.Join(allocRoot, "new"), []string{"web"}, nil)
	src := &fakeSource{localDir: filepath.Join(allocRoot, "old"), localDone: make(chan struct{})}
	moved := make(chan *recorder)
	go func() { moved <- runHook(t, allocRoot, stickyAlloc("new", "old", true, false), src) }()
	select {
	case <-moved:
		t.Fatal("data moved while the previous allocation still runs")
	case <-time.After(200 * time.Millisecond):
	}
	close(src.localDone)
	rec := <-moved
	if got := readFile(t, filepath.Join(allocRoot, "new/alloc/data/f")); got != "v1 data" {
		t.Fatalf("alloc/data/f = %q", got)
	}
	if got := readFile(t, filepath.Join(allocRoot, "new/web/local/l")); got != "v1 local" {
		t.Fatalf("web/local/l = %q", got)
	}
	if msgs := rec.messages(); msgs != "" {
		t.Fatalf("events: %s", msgs)
	}
}

// A link planted in place of the previous alloc/data is not followed: the
// replacement keeps its own empty directory.
func TestHookLocalMoveIgnoresPlantedLink(t *testing.T) {
	allocRoot, outside := t.TempDir(), t.TempDir()
	mkAllocDir(t, filepath.Join(allocRoot, "old"), []string{"web"}, nil)
	mkAllocDir(t, filepath.Join(allocRoot, "new"), []string{"web"}, nil)
	if err := os.WriteFile(filepath.Join(outside, "host"), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(allocRoot, "old/alloc/data")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, data); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	close(done)
	runHook(t, allocRoot, stickyAlloc("new", "old", true, false), &fakeSource{localDir: filepath.Join(allocRoot, "old"), localDone: done})
	fi, err := os.Lstat(filepath.Join(allocRoot, "new/alloc/data"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("new alloc/data: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "host")); err != nil {
		t.Fatalf("outside file touched: %v", err)
	}
}

// From another node (migrate = true) the data is fetched once the
// previous allocation is terminal there (503 until then).
func TestHookFetchesRemoteData(t *testing.T) {
	prevRoot, allocRoot := t.TempDir(), t.TempDir()
	mkAllocDir(t, prevRoot, []string{"web"}, map[string]string{"alloc/data/f": "remote data", "web/local/l": "remote local"})
	mkAllocDir(t, filepath.Join(allocRoot, "new"), []string{"web"}, nil)
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls < 3 {
			http.Error(w, "not terminal", http.StatusServiceUnavailable)
			return
		}
		root, err := safefs.OpenRoot(prevRoot)
		if err != nil {
			t.Error(err)
			return
		}
		defer root.Close()
		if _, err := WriteArchive(w, root, []string{"web"}); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	src := &fakeSource{info: &control.MigrateInfoResponse{PrevAllocID: "old", PrevNodeID: "node-a",
		PrevNodeHTTPAddr: srv.Listener.Addr().String(), Token: "t"}}
	src.fetch = func(ctx context.Context) (io.ReadCloser, error) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return nil, ErrNotReady
		}
		return resp.Body, nil
	}
	rec := runHook(t, allocRoot, stickyAlloc("new", "old", false, true), src)
	if got := readFile(t, filepath.Join(allocRoot, "new/alloc/data/f")); got != "remote data" {
		t.Fatalf("alloc/data/f = %q (events %s)", got, rec.messages())
	}
	if got := readFile(t, filepath.Join(allocRoot, "new/web/local/l")); got != "remote local" {
		t.Fatalf("web/local/l = %q", got)
	}
	if src.fetches != 3 {
		t.Fatalf("%d fetches, want 3", src.fetches)
	}
	if _, err := os.Lstat(filepath.Join(allocRoot, "new", staging)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staging dir left: %v", err)
	}
}

// A transfer cut short, a hostile archive, or a previous node that is down
// leaves the replacement with empty directories and a task event.
func TestHookRemoteFailuresStartEmpty(t *testing.T) {
	for name, tc := range map[string]struct {
		info  control.MigrateInfoResponse
		body  func() io.Reader
		event string
	}{
		"node down": {info: control.MigrateInfoResponse{PrevNodeID: "node-a", PrevNodeDown: true},
			event: "node node-a of previous allocation  is down"},
		"hostile archive": {body: func() io.Reader {
			return tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "alloc/data/ok", Size: 1, Mode: 0o644},
				&tar.Header{Typeflag: tar.TypeSymlink, Name: "alloc/data/l", Linkname: "/etc"})
		}, event: "is not a directory or a regular file"},
		"truncated": {body: func() io.Reader {
			b := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "alloc/data/big", Size: 4096, Mode: 0o644}).Bytes()
			return bytes.NewReader(b[:1000])
		}, event: "unexpected EOF"},
		"gone": {event: "directory is gone"},
	} {
		t.Run(name, func(t *testing.T) {
			allocRoot := t.TempDir()
			mkAllocDir(t, filepath.Join(allocRoot, "new"), []string{"web"}, nil)
			info := tc.info
			if info.PrevNodeID == "" {
				info = control.MigrateInfoResponse{PrevAllocID: "old", PrevNodeID: "node-a", PrevNodeHTTPAddr: "x", Token: "t"}
			}
			src := &fakeSource{info: &info, fetch: func(context.Context) (io.ReadCloser, error) {
				if tc.body == nil {
					return nil, ErrGone
				}
				return io.NopCloser(tc.body()), nil
			}}
			rec := runHook(t, allocRoot, stickyAlloc("new", "old", false, true), src)
			if msgs := rec.messages(); !strings.Contains(msgs, tc.event) || !strings.Contains(msgs, "not migrated") {
				t.Fatalf("events %q, want %q", msgs, tc.event)
			}
			ents, err := os.ReadDir(filepath.Join(allocRoot, "new/alloc/data"))
			if err != nil || len(ents) != 0 {
				t.Fatalf("alloc/data after a failed migration: %v %v", ents, err)
			}
			if _, err := os.Lstat(filepath.Join(allocRoot, "new", staging)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("staging dir left: %v", err)
			}
		})
	}
}

// sticky alone does not fetch from another node.
func TestHookStickyWithoutMigrateStaysLocal(t *testing.T) {
	allocRoot := t.TempDir()
	mkAllocDir(t, filepath.Join(allocRoot, "new"), []string{"web"}, nil)
	src := &fakeSource{info: &control.MigrateInfoResponse{PrevNodeID: "node-a", PrevNodeHTTPAddr: "x", Token: "t"},
		fetch: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("fetched") }}
	rec := runHook(t, allocRoot, stickyAlloc("new", "old", true, false), src)
	if src.fetches != 0 || rec.messages() != "" {
		t.Fatalf("fetches %d events %q", src.fetches, rec.messages())
	}
	// Without sticky or migrate there is no hook at all.
	a := stickyAlloc("new", "old", false, false)
	if h := HookFactory(Config{Source: src})(&hooks.AllocHookConfig{Alloc: a}); h != nil {
		t.Fatalf("hook for a group without a sticky disk")
	}
}

func TestMigrateToken(t *testing.T) {
	tok := control.MigrateToken("secret-a", "alloc-1")
	if !control.VerifyMigrateToken("secret-a", "alloc-1", tok) {
		t.Fatal("own token refused")
	}
	for _, c := range [][3]string{{"secret-b", "alloc-1", tok}, {"secret-a", "alloc-2", tok}, {"secret-a", "alloc-1", ""}, {"", "alloc-1", tok}} {
		if control.VerifyMigrateToken(c[0], c[1], c[2]) {
			t.Errorf("accepted %v", c)
		}
	}
}
