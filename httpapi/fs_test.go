package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// setupFS gives a registered alloc a directory like the client builds, with
// ordinary files and everything a hostile task could plant: links to a host
// secret (last component and middle), a hard link to it, a FIFO, a socket
// and a device node.
func setupFS(t *testing.T, ta *testAgent) (allocID, dir, secret string) {
	t.Helper()
	allocID, logDir := setupLogs(t, ta)
	dir = filepath.Dir(filepath.Dir(logDir))
	secret = filepath.Join(t.TempDir(), "shadow")
	writeFile(t, secret, "TOP-SECRET\n")
	for _, d := range []string{"alloc/data", "t/local", "t/secrets"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "alloc/data/hello.txt"), "hello world\n")
	writeFile(t, filepath.Join(dir, "t/secrets/token"), "s3cr3t\n")
	must(t, os.Symlink(secret, filepath.Join(dir, "alloc/data/shadow")))
	must(t, os.Symlink(filepath.Dir(secret), filepath.Join(dir, "t/local/host")))
	must(t, os.Link(secret, filepath.Join(dir, "alloc/data/hard")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "alloc/data/fifo"), 0o644))
	must(t, syscall.Mknod(filepath.Join(dir, "alloc/data/null"), syscall.S_IFCHR|0o666, 1<<8|3))
	l, err := net.Listen("unix", filepath.Join(dir, "alloc/data/sock"))
	must(t, err)
	t.Cleanup(func() { l.Close() })
	return allocID, dir, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFSListAndStat(t *testing.T) {
	ta := newTestAgent(t)
	allocID, _, _ := setupFS(t, ta)
	var root []*structs.AllocFileInfo
	getJSON(t, ta.srv.URL+"/v1/client/fs/ls/"+allocID+"?path=/", &root)
	var names []string
	for _, e := range root {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "alloc,t" || !root[0].IsDir || !strings.HasPrefix(root[0].FileMode, "d") {
		t.Fatalf("ls / = %+v", names)
	}
	var data []*structs.AllocFileInfo
	getJSON(t, ta.srv.URL+"/v1/client/fs/ls/"+allocID+"?path=alloc/data", &data)
	modes := map[string]string{}
	for _, e := range data {
		modes[e.Name] = e.FileMode
	}
	// Listing shows hostile entries as what they are, links unfollowed.
	for name, prefix := range map[string]string{"hello.txt": "-", "shadow": "L", "fifo": "p", "sock": "S", "null": "Dc", "hard": "-"} {
		if !strings.HasPrefix(modes[name], prefix) {
			t.Errorf("%s listed with mode %q, want %s...", name, modes[name], prefix)
		}
	}
	var st structs.AllocFileInfo
	getJSON(t, ta.srv.URL+"/v1/client/fs/stat/"+allocID+"?path=/alloc/data/hello.txt", &st)
	if st.Name != "hello.txt" || st.Size != 12 || st.IsDir || !strings.HasPrefix(st.ContentType, "text/plain") {
		t.Fatalf("stat = %+v", st)
	}
	var link structs.AllocFileInfo
	getJSON(t, ta.srv.URL+"/v1/client/fs/stat/"+allocID+"?path=alloc/data/shadow", &link)
	if !strings.HasPrefix(link.FileMode, "L") || link.ContentType != "" {
		t.Fatalf("stat of a link = %+v; want the link itself, unread", link)
	}
}

func TestFSReadsNeverLeaveTheAllocDir(t *testing.T) {
	ta := newTestAgent(t)
	allocID, _, _ := setupFS(t, ta)
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"alloc/data/shadow", 400, "symbolic link"},
		{"t/local/host/shadow", 400, "symbolic link"},
		{"alloc/data/hard", 400, "hard link"},
		{"alloc/data/fifo", 400, "FIFO"},
		{"alloc/data/sock", 400, "socket"},
		{"alloc/data/null", 400, "character device"},
		{"../../../etc/passwd", 400, "escapes"},
		{"alloc/../../x", 400, "escapes"},
		{"alloc/data", 400, "is a directory"},
		{"alloc/data/missing", 404, "does not exist"},
		{"t/secrets/token", 403, "secret"},
	} {
		for _, ep := range []string{"cat", "readat", "stream"} {
			url := ta.srv.URL + "/v1/client/fs/" + ep + "/" + allocID + "?follow=false&path=" + tc.path
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatalf("%s %s: %v (a special file blocked the agent?)", ep, tc.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.msg) {
				t.Errorf("%s %s: %d %q, want %d with %q", ep, tc.path, resp.StatusCode, body, tc.code, tc.msg)
			}
			if bytes.Contains(body, []byte("TOP-SECRET")) || bytes.Contains(body, []byte("s3cr3t")) {
				t.Fatalf("%s %s served a secret", ep, tc.path)
			}
		}
	}
	// ls through a link is refused too.
	code, _, body := do(t, "GET", ta.srv.URL+"/v1/client/fs/ls/"+allocID+"?path=t/local/host", nil)
	if code != 400 || bytes.Contains(body, []byte("shadow")) {
		t.Fatalf("ls through a link: %d %s", code, body)
	}
}

func TestFSCatReadAtStream(t *testing.T) {
	ta := newTestAgent(t)
	allocID, dir, _ := setupFS(t, ta)
	base := ta.srv.URL + "/v1/client/fs/"
	if code, _, body := do(t, "GET", base+"cat/"+allocID+"?path=alloc/data/hello.txt", nil); code != 200 || string(body) != "hello world\n" {
		t.Fatalf("cat: %d %q", code, body)
	}
	for q, want := range map[string]string{
		"offset=6&limit=5": "world", "offset=6": "world\n", "offset=100": "", "limit=0": "hello world\n",
	} {
		if code, _, body := do(t, "GET", base+"readat/"+allocID+"?path=alloc/data/hello.txt&"+q, nil); code != 200 || string(body) != want {
			t.Errorf("readat %s: %d %q, want %q", q, code, body, want)
		}
	}
	if code, _, _ := do(t, "GET", base+"readat/"+allocID+"?path=alloc/data/hello.txt&offset=-1", nil); code != 400 {
		t.Errorf("readat with a negative offset: %d", code)
	}
	code, _, body := do(t, "GET", base+"stream/"+allocID+"?path=alloc/data/hello.txt&follow=false&origin=end&offset=6", nil)
	frames, data := readFrames(t, bytes.NewReader(body))
	if code != 200 || data != "world\n" || frames[0].File != "alloc/data/hello.txt" || frames[0].Offset != 12 {
		t.Fatalf("stream: %d %+v %q", code, frames, data)
	}

	// A followed stream sends growth, a truncation event, and ends with a
	// deletion event.
	p := filepath.Join(dir, "alloc/data/grow.txt")
	writeFile(t, p, "a\n")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"stream/"+allocID+"?path=alloc/data/grow.txt", nil)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	next := func() StreamFrame {
		for {
			var f StreamFrame
			if err := dec.Decode(&f); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if f.Data != nil || f.FileEvent != "" {
				return f
			}
		}
	}
	if f := next(); string(f.Data) != "a\n" {
		t.Fatalf("first frame %+v", f)
	}
	appendFile(t, p, "b\n")
	if f := next(); string(f.Data) != "b\n" || f.Offset != 4 {
		t.Fatalf("growth frame %+v", f)
	}
	must(t, os.Truncate(p, 0))
	if f := next(); f.FileEvent != "file truncated" {
		t.Fatalf("want a truncation event, got %+v", f)
	}
	must(t, os.Remove(p))
	if f := next(); f.FileEvent != "file deleted" {
		t.Fatalf("want a deletion event, got %+v", f)
	}
}

// TestFSWithNomadAPI drives the endpoints with the stock Nomad client.
func TestFSWithNomadAPI(t *testing.T) {
	ta := newTestAgent(t)
	allocID, _, _ := setupFS(t, ta)
	c, err := nomad.NewClient(&nomad.Config{Address: ta.srv.URL})
	must(t, err)
	alloc := &nomad.Allocation{ID: allocID, NodeID: ""}
	files, _, err := c.AllocFS().List(alloc, "/alloc/logs", nil)
	if err != nil || len(files) != 3 || files[0].Name != "t.stderr.0" {
		t.Fatalf("List = %v, %v", files, err)
	}
	st, _, err := c.AllocFS().Stat(alloc, "/alloc/logs/t.stdout.0", nil)
	if err != nil || st.Size != 6 || st.FileMode != "-rw-r--r--" {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	rc, err := c.AllocFS().Cat(alloc, "/alloc/logs/t.stdout.1", nil)
	must(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "world\n" {
		t.Fatalf("Cat = %q", b)
	}
	rc, err = c.AllocFS().ReadAt(alloc, "/alloc/logs/t.stdout.0", 1, 3, nil)
	must(t, err)
	b, _ = io.ReadAll(rc)
	rc.Close()
	if string(b) != "ell" {
		t.Fatalf("ReadAt = %q", b)
	}
	if _, err := c.AllocFS().Cat(alloc, "/alloc/data/shadow", nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("Cat of a link: %v", err)
	}
	cancel := make(chan struct{})
	defer close(cancel)
	frames, errs := c.AllocFS().Stream(alloc, "/alloc/data/hello.txt", "start", 0, cancel, nil)
	select {
	case f := <-frames:
		if string(f.Data) != "hello world\n" {
			t.Fatalf("Stream frame %+v", f)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no frame")
	}
}

func TestFSUnknownAlloc(t *testing.T) {
	ta := newTestAgent(t)
	code, _, body := do(t, "GET", ta.srv.URL+"/v1/client/fs/ls/"+structs.GenerateUUID()+"?path=/", nil)
	if code != 404 || !strings.Contains(string(body), "Unknown allocation") {
		t.Fatalf("%d %s", code, body)
	}
}
