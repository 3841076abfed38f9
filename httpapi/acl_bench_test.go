package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orch-project/orch/structs"
)

// BenchmarkACLGuard measures what the choke point adds to a read: the same
// GET /v1/job/<id> with ACLs off, with a management token, and with a
// client token whose ACL compiles from a policy (both cached after the
// first request, as in steady state).
func BenchmarkACLGuard(b *testing.B) {
	t := &testing.T{}
	w := newACLWorld(t)
	reader := w.tokenWith(`namespace "default" { policy = "read" }`)
	off := New(Config{Server: w.b, Logger: quietLogger()})
	on := w.srv.Config.Handler
	run := func(b *testing.B, h http.Handler, secret string) {
		req := httptest.NewRequest("GET", "/v1/job/"+w.job.ID, nil)
		if secret != "" {
			req.Header.Set("X-Nomad-Token", secret)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("acl-off", func(b *testing.B) { run(b, off, "") })
	b.Run("management", func(b *testing.B) { run(b, on, w.mgmt.SecretID) })
	b.Run("client-token", func(b *testing.B) { run(b, on, reader.SecretID) })
	_ = structs.DefaultNamespace
}
