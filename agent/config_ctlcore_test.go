package agent

import (
	"strings"
	"testing"
	"time"
)

func TestAutopilotBlockAndNumSchedulers(t *testing.T) {
	c := DefaultConfig()
	err := c.LoadFile(writeConfig(t, `
server {
  enabled        = true
  num_schedulers = 0
}
autopilot {
  cleanup_dead_servers      = false
  last_contact_threshold    = "500ms"
  max_trailing_logs         = 100
  min_quorum                = 3
  server_stabilization_time = "30s"
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumSchedulers != -1 {
		t.Fatalf("num_schedulers = 0 gave %d workers, want none (-1)", c.NumSchedulers)
	}
	ap := c.Autopilot
	if ap == nil || ap.CleanupDeadServers || ap.LastContactThreshold != 500*time.Millisecond || ap.MaxTrailingLogs != 100 ||
		ap.MinQuorum != 3 || ap.ServerStabilizationTime != 30*time.Second {
		t.Fatalf("autopilot block: %+v", ap)
	}
	for body, want := range map[string]string{
		`autopilot { enable_redundancy_zones = true }`:  "enable_redundancy_zones",
		`autopilot { last_contact_threshold = "soon" }`: "last_contact_threshold",
		`server { num_schedulers = -2 }`:                "num_schedulers",
	} {
		err := DefaultConfig().LoadFile(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
