package gossip

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func newTestPool(t *testing.T, name, ip string, tags map[string]string) *Pool {
	t.Helper()
	p, err := New(Config{Name: name, BindAddr: ip, Port: 4648, Tags: tags, Fast: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func waitEvent(t *testing.T, ch <-chan Event, want EventType, name string) Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Type == want && e.Member.Name == name {
				return e
			}
		case <-timeout:
			t.Fatalf("no event %d for %s", want, name)
		}
	}
}

// TestPoolJoinTagsAndFailure runs three real memberlist instances on
// loopback addresses: they find each other through one join, see each
// other's tags and tag updates, tell a graceful leave from a failure.
func TestPoolJoinTagsAndFailure(t *testing.T) {
	a := newTestPool(t, "a", "127.0.3.1", map[string]string{"role": "server"})
	events := a.Subscribe()
	b := newTestPool(t, "b", "127.0.3.2", map[string]string{"role": "client", "node_id": "n-b"})
	c := newTestPool(t, "c", "127.0.3.3", map[string]string{"role": "client"})
	if _, err := b.Join([]string{"127.0.3.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join([]string{"127.0.3.2:4648"}); err != nil {
		t.Fatal(err)
	}
	j := waitEvent(t, events, EventJoin, "b")
	if j.Member.Tags["node_id"] != "n-b" || j.Member.Status != StatusAlive {
		t.Fatalf("join event: %+v", j.Member)
	}
	waitEvent(t, events, EventJoin, "c")
	if n := len(a.Members()); n != 3 {
		t.Fatalf("a sees %d members, want 3", n)
	}

	if err := b.SetTags(map[string]string{"role": "client", "node_id": "n-b2"}); err != nil {
		t.Fatal(err)
	}
	u := waitEvent(t, events, EventUpdate, "b")
	if u.Member.Tags["node_id"] != "n-b2" {
		t.Fatalf("update event tags: %v", u.Member.Tags)
	}

	if err := c.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, EventLeave, "c")

	// A crash: no leave message, so probes must find it dead.
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	f := waitEvent(t, events, EventFailed, "b")
	if f.Member.Status != StatusFailed {
		t.Fatalf("failed member status %q", f.Member.Status)
	}
}

func TestTagsTooLargeAreRejected(t *testing.T) {
	big := map[string]string{}
	for i := 0; i < 100; i++ {
		big[string(rune('a'+i%26))+string(rune('a'+i/26))] = "0123456789"
	}
	if _, err := New(Config{Name: "x", BindAddr: "127.0.3.9", Port: 4648, Tags: big}); err == nil {
		t.Fatal("oversized tags accepted")
	}
}
