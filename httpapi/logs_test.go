package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// setupLogs registers a one-alloc job and gives the alloc a directory with
// two rotated stdout files.
func setupLogs(t *testing.T, ta *testAgent) (allocID, logDir string) {
	t.Helper()
	ta.addNode(t, "n1", "")
	resp := ta.register(t, testJob("logs", 1))
	allocs, err := ta.backend.State().AllocsByEval(nil, resp.EvalID)
	if err != nil || len(allocs) != 1 {
		t.Fatalf("allocs: %v %v", allocs, err)
	}
	dir := t.TempDir()
	logDir = filepath.Join(dir, "alloc", "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "t"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(logDir, "t.stdout.0"), "hello\n")
	writeFile(t, filepath.Join(logDir, "t.stdout.1"), "world\n")
	writeFile(t, filepath.Join(logDir, "t.stderr.0"), "oops\n")
	ta.client.AddAlloc(allocs[0].ID, dir)
	return allocs[0].ID, logDir
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func readFrames(t *testing.T, r io.Reader) ([]StreamFrame, string) {
	t.Helper()
	dec := json.NewDecoder(r)
	var frames []StreamFrame
	var data strings.Builder
	for {
		var f StreamFrame
		if err := dec.Decode(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding frame: %v", err)
		}
		frames = append(frames, f)
		data.Write(f.Data)
	}
	return frames, data.String()
}

func TestLogsAcrossRotatedFiles(t *testing.T) {
	ta := newTestAgent(t)
	allocID, _ := setupLogs(t, ta)
	base := ta.srv.URL + "/v1/client/fs/logs/" + allocID + "?task=t&type=stdout"

	code, _, body := do(t, "GET", base+"&follow=false&offset=0&origin=start", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	frames, data := readFrames(t, strings.NewReader(string(body)))
	if data != "hello\nworld\n" {
		t.Fatalf("data = %q", data)
	}
	if len(frames) != 2 || frames[0].File != "alloc/logs/t.stdout.0" || frames[0].Offset != 6 ||
		frames[1].File != "alloc/logs/t.stdout.1" || frames[1].Offset != 6 {
		t.Fatalf("frames = %+v", frames)
	}

	for _, tc := range []struct{ query, want string }{
		{"&origin=end&offset=3", "ld\n"},
		{"&origin=end&offset=8", "o\nworld\n"},
		{"&origin=end&offset=100", "hello\nworld\n"},
		{"&origin=start&offset=7", "orld\n"},
		{"&origin=start&offset=100", ""},
	} {
		code, _, body := do(t, "GET", base+tc.query, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.query, code, body)
		}
		if _, got := readFrames(t, strings.NewReader(string(body))); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.query, got, tc.want)
		}
	}

	code, h, body := do(t, "GET", base+"&plain=true", nil)
	if code != 200 || string(body) != "hello\nworld\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("plain: %d %q %q", code, body, h.Get("Content-Type"))
	}
	code, _, body = do(t, "GET", strings.Replace(base, "stdout", "stderr", 1)+"&plain=true", nil)
	if code != 200 || string(body) != "oops\n" {
		t.Fatalf("stderr: %d %q", code, body)
	}
}

func TestLogsErrors(t *testing.T) {
	ta := newTestAgent(t)
	allocID, _ := setupLogs(t, ta)
	for _, tc := range []struct {
		path string
		want int
		msg  string
	}{
		{"/v1/client/fs/logs/" + allocID + "?task=t&type=stdin", 400, "log type"},
		{"/v1/client/fs/logs/" + allocID + "?type=stdout", 400, "task"},
		{"/v1/client/fs/logs/" + allocID + "?task=t&type=stdout&origin=middle", 400, "origin"},
		{"/v1/client/fs/logs/" + allocID + "?task=t&type=stdout&offset=-1", 400, "offset"},
		{"/v1/client/fs/logs/" + allocID + "?task=nope&type=stdout", 404, "Unknown task"},
		{"/v1/client/fs/logs/" + structs.GenerateUUID() + "?task=t&type=stdout", 404, "Unknown allocation"},
	} {
		code, _, body := do(t, "GET", ta.srv.URL+tc.path, nil)
		if code != tc.want || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.path, code, body, tc.want, tc.msg)
		}
	}
}

func TestLogsFollowAcrossRotation(t *testing.T) {
	ta := newTestAgent(t)
	allocID, logDir := setupLogs(t, ta)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET",
		ta.srv.URL+"/v1/client/fs/logs/"+allocID+"?task=t&type=stdout&origin=end&offset=0&follow=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	frames := make(chan StreamFrame)
	go func() {
		defer close(frames)
		dec := json.NewDecoder(resp.Body)
		for {
			var f StreamFrame
			if dec.Decode(&f) != nil {
				return
			}
			frames <- f
		}
	}()
	next := func() StreamFrame {
		t.Helper()
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("stream ended")
			}
			return f
		case <-ctx.Done():
			t.Fatal("timed out waiting for a frame")
		}
		return StreamFrame{}
	}
	// Caught up: a heartbeat says so.
	if f := next(); len(f.Data) != 0 || f.File != "" {
		t.Fatalf("first frame = %+v, want heartbeat", f)
	}
	appendFile(t, filepath.Join(logDir, "t.stdout.1"), "more\n")
	if f := next(); string(f.Data) != "more\n" || f.File != "alloc/logs/t.stdout.1" || f.Offset != 11 {
		t.Fatalf("appended frame = %+v", f)
	}
	// Rotation: the rest of the old file, then the new one.
	appendFile(t, filepath.Join(logDir, "t.stdout.1"), "tail\n")
	writeFile(t, filepath.Join(logDir, "t.stdout.2"), "next\n")
	var got strings.Builder
	for got.String() != "tail\nnext\n" {
		f := next()
		got.Write(f.Data)
		if got.Len() > 10 {
			t.Fatalf("unexpected data %q", got.String())
		}
	}
	cancel()
}

// A server without the alloc dir proxies to the node that has it.
func TestLogsProxiedToNode(t *testing.T) {
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(New(Config{Server: b, Logger: quietLogger()}))
	defer server.Close()
	client := httpapitest.NewClient(structs.GenerateUUID())
	nodeAgent := httptest.NewServer(New(Config{Client: client, Logger: quietLogger(),
		ServerAddrs: func() []string { return []string{server.URL} }}))
	defer nodeAgent.Close()

	n := httpapitest.TestNode("n1", strings.TrimPrefix(nodeAgent.URL, "http://"))
	n.ID = client.ID
	if _, err := b.RegisterNode(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{backend: b, client: client, srv: server}
	resp := ta.register(t, testJob("px", 1))
	allocs, _ := b.State().AllocsByEval(nil, resp.EvalID)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "alloc", "logs"), 0o755)
	writeFile(t, filepath.Join(dir, "alloc", "logs", "t.stdout.0"), "from node\n")
	client.AddAlloc(allocs[0].ID, dir)

	path := "/v1/client/fs/logs/" + allocs[0].ID + "?task=t&type=stdout&plain=true"
	code, _, body := do(t, "GET", server.URL+path, nil)
	if code != 200 || string(body) != "from node\n" {
		t.Fatalf("via server: %d %q", code, body)
	}
	// The client-only agent also answers server endpoints by forwarding.
	var jobs []*structs.JobListStub
	getJSON(t, nodeAgent.URL+"/v1/jobs", &jobs)
	if len(jobs) != 1 || jobs[0].ID != "px" {
		t.Fatalf("forwarded job list = %+v", jobs)
	}
	// An alloc neither has ends in a 404, not a forwarding loop.
	code, _, body = do(t, "GET", nodeAgent.URL+"/v1/client/fs/logs/"+structs.GenerateUUID()+"?task=t&type=stdout", nil)
	if code != 404 {
		t.Fatalf("unknown alloc via node: %d %q", code, body)
	}
}
