package fingerprint

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

func TestHost(t *testing.T) {
	dir := t.TempDir()
	r := Host(dir, "10.1.2.3")
	a := r.Attributes
	for _, k := range []string{"kernel.name", "kernel.version", "os.name", "cpu.arch", "cpu.numcores", "cpu.totalcompute",
		"memory.totalbytes", "unique.hostname", "unique.network.ip-address", "nomad.version", "unique.storage.bytesfree"} {
		if a[k] == "" {
			t.Errorf("attribute %s missing", k)
		}
	}
	if a["unique.network.ip-address"] != "10.1.2.3" || r.IP != "10.1.2.3" {
		t.Fatalf("advertised ip not used: %s", a["unique.network.ip-address"])
	}
	if r.CPUCores != runtime.NumCPU() || r.TotalMHz < int64(r.CPUCores) || a["cpu.totalcompute"] != strconv.FormatInt(r.TotalMHz, 10) {
		t.Fatalf("cpu %d cores %d MHz", r.CPUCores, r.TotalMHz)
	}
	if r.MemoryMB <= 0 || r.DiskMB <= 0 {
		t.Fatalf("memory %d disk %d", r.MemoryMB, r.DiskMB)
	}
	if ip := Host("", "0.0.0.0").IP; ip == "" || ip == "0.0.0.0" {
		t.Fatalf("unspecified address not resolved: %q", ip)
	}
}

func TestParsers(t *testing.T) {
	if got := parseMemTotal([]byte("MemFree: 1 kB\nMemTotal:       2048 kB\n")); got != 2048<<10 {
		t.Fatalf("MemTotal = %d", got)
	}
	if got := parseMemTotal([]byte("garbage")); got != 0 {
		t.Fatalf("garbage MemTotal = %d", got)
	}
	p := filepath.Join(t.TempDir(), "cpuinfo")
	os.WriteFile(p, []byte("processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2399.998\n\nprocessor\t: 1\ncpu MHz\t\t: 1200.0\n"), 0o644)
	f, _ := os.Open(p)
	defer f.Close()
	mhz, model := parseCPUInfo(f, 0)
	if mhz != 2399 || model != "Test CPU" {
		t.Fatalf("cpuinfo = %d %q", mhz, model)
	}
}
