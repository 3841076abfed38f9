package agent

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/client/fingerprint"
)

// TestNvidiaPluginSettings: Nomad's nomad-device-nvidia block (and its
// older nvidia-gpu name) reaches the GPU fingerprinter's options; a bad
// period is an error with its position.
func TestNvidiaPluginSettings(t *testing.T) {
	for _, name := range []string{"nomad-device-nvidia", "nvidia-gpu"} {
		c := DefaultConfig()
		err := c.LoadFile(writeConfig(t, `plugin "`+name+`" {
  config {
    enabled            = false
    ignored_gpu_ids    = ["GPU-fef8089b", "GPU-ac81e44d"]
    fingerprint_period = "30s"
  }
}
`))
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{
			fingerprint.OptNvidiaEnabled: "false", fingerprint.OptNvidiaIgnored: "GPU-fef8089b,GPU-ac81e44d",
			fingerprint.OptNvidiaPeriod: "30s",
		} {
			if c.Options[k] != want {
				t.Errorf("%s: option %s = %q, want %q", name, k, c.Options[k], want)
			}
		}
		gpu, err := fingerprint.NvidiaConfigFromOptions(c.Options)
		if err != nil || gpu.Enabled || !gpu.Ignored["GPU-ac81e44d"] {
			t.Fatalf("fingerprinter config %+v %v", gpu, err)
		}
	}
	err := DefaultConfig().LoadFile(writeConfig(t, "plugin \"nomad-device-nvidia\" {\n  config {\n    fingerprint_period = \"often\"\n  }\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "agent.hcl:3") {
		t.Fatalf("bad period: %v", err)
	}
}
