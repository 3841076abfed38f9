package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

type testAgent struct {
	backend *httpapitest.Backend
	client  *httpapitest.Client
	srv     *httptest.Server
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestAgent(t *testing.T) *testAgent {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{backend: b, client: httpapitest.NewClient(structs.GenerateUUID())}
	ta.srv = httptest.NewServer(New(Config{Server: b, Client: ta.client, Logger: quietLogger()}))
	t.Cleanup(ta.srv.Close)
	return ta
}

// do sends a request and returns status, headers and body.
func do(t *testing.T, method, url string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// getJSON GETs url, requires 200 and decodes into out.
func getJSON(t *testing.T, url string, out any) http.Header {
	t.Helper()
	code, h, body := do(t, "GET", url, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", url, body, err)
	}
	return h
}

func testJob(id string, count int) *structs.Job {
	return &structs.Job{
		ID: id, Name: id, Type: structs.JobTypeService, Priority: 50, Datacenters: []string{"*"},
		Namespace: "default", Region: "global",
		TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/sleep"}}},
		}},
	}
}

func (ta *testAgent) addNode(t *testing.T, name, httpAddr string) *structs.Node {
	t.Helper()
	n := httpapitest.TestNode(name, httpAddr)
	if _, err := ta.backend.RegisterNode(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (ta *testAgent) register(t *testing.T, job *structs.Job) *structs.JobRegisterResponse {
	t.Helper()
	var resp structs.JobRegisterResponse
	code, _, body := do(t, "PUT", ta.srv.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: job})
	if code != 200 {
		t.Fatalf("register: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}
