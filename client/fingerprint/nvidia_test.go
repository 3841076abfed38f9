package fingerprint

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeSMI writes an nvidia-smi that checks it is asked Nomad's query and
// prints rows, or fails when the file "fail" exists beside it.
func fakeSMI(t *testing.T, rows string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "nvidia-smi")
	script := `#!/bin/sh
[ -e "` + dir + `/fail" ] && { echo "NVML: driver not loaded" >&2; exit 9; }
echo "$1" >> "` + dir + `/calls"
case "$1" in --query-gpu=uuid,name,memory.total,*) ;; *) exit 2;; esac
cat <<'EOF'
` + rows + `
EOF
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const smiRows = `GPU-aaaa, Tesla T4, 15360, 70.00, 535.104.05, 1590, 5001, 00000000:3B:00.0, Disabled, Enabled, 3, 16
GPU-bbbb, Tesla T4, 15360, 70.00, 535.104.05, 1590, 5001, 00000000:5E:00.0, Disabled, Enabled, 3, 16
GPU-cccc, NVIDIA A100-SXM4-40GB, 40960, [N/A], 535.104.05, 1410, 1215, 00000000:86:00.0, Enabled, [Not Supported], 4, 16`

func TestNvidiaFingerprintGroupsByModel(t *testing.T) {
	smi := fakeSMI(t, smiRows)
	n := NewNvidia(NvidiaConfig{Enabled: true, Period: time.Hour, SMI: smi, Ignored: map[string]bool{"GPU-bbbb": false}})
	devs := n.Devices(context.Background())
	if len(devs) != 2 {
		t.Fatalf("groups %+v", devs)
	}
	t4, a100 := devs[0], devs[1]
	if t4.ID() != "nvidia/gpu/Tesla T4" || len(t4.Instances) != 2 || t4.Instances[1].ID != "GPU-bbbb" ||
		!t4.Instances[0].Healthy || t4.Instances[0].Locality.PciBusID != "00000000:3B:00.0" {
		t.Fatalf("T4 group %+v %+v", t4, t4.Instances[0])
	}
	for k, want := range map[string]string{
		"memory": "15360 MiB", "power": "70 W", "driver_version": "535.104.05", "cores_clock": "1590 MHz",
		"memory_clock": "5001 MHz", "display_state": "Disabled", "persistence_mode": "Enabled", "pci_bandwidth": "15760 MB/s",
	} {
		if got := t4.Attributes[k].String(); got != want {
			t.Errorf("T4 %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := a100.Attributes["power"]; ok {
		t.Errorf("[N/A] power reported: %v", a100.Attributes["power"])
	}
	if _, ok := a100.Attributes["persistence_mode"]; ok {
		t.Errorf("[Not Supported] reported")
	}
	if a100.Name != "NVIDIA A100-SXM4-40GB" || a100.Attributes["memory"].String() != "40960 MiB" {
		t.Fatalf("A100 group %+v", a100)
	}
}

// TestNvidiaFingerprintLifecycle: ignored GPUs are left out, nvidia-smi
// runs at most once per period, a failure keeps the GPUs but unhealthy,
// and a host without nvidia-smi has none.
func TestNvidiaFingerprintLifecycle(t *testing.T) {
	smi := fakeSMI(t, smiRows)
	dir := filepath.Dir(smi)
	n := NewNvidia(NvidiaConfig{Enabled: true, Period: 50 * time.Millisecond, SMI: smi, Ignored: map[string]bool{"GPU-aaaa": true}})
	ctx := context.Background()
	devs := n.Devices(ctx)
	if len(devs[0].Instances) != 1 || devs[0].Instances[0].ID != "GPU-bbbb" {
		t.Fatalf("ignored GPU reported: %+v", devs[0].Instances)
	}
	n.Devices(ctx)
	if b, _ := os.ReadFile(filepath.Join(dir, "calls")); len(b) == 0 || countLines(b) != 1 {
		t.Fatalf("nvidia-smi ran %d times within one period", countLines(b))
	}
	if err := os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	devs = n.Devices(ctx)
	if len(devs) != 2 || devs[0].Instances[0].Healthy || devs[0].Instances[0].HealthDescription == "" {
		t.Fatalf("after a failure: %+v", devs[0].Instances[0])
	}
	if NewNvidia(NvidiaConfig{Enabled: true, Period: time.Hour, SMI: "/nonexistent/nvidia-smi"}).Devices(ctx) != nil {
		t.Fatal("devices without nvidia-smi")
	}
	if NewNvidia(NvidiaConfig{Enabled: false, SMI: smi}).Devices(ctx) != nil {
		t.Fatal("devices while disabled")
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func TestNvidiaConfigFromOptions(t *testing.T) {
	c, err := NvidiaConfigFromOptions(map[string]string{
		OptNvidiaEnabled: "false", OptNvidiaIgnored: "GPU-1, GPU-2", OptNvidiaPeriod: "5m",
	})
	if err != nil || c.Enabled || !c.Ignored["GPU-2"] || c.Period != 5*time.Minute {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := NvidiaConfigFromOptions(map[string]string{OptNvidiaPeriod: "soon"}); err == nil {
		t.Fatal("bad period accepted")
	}
}
