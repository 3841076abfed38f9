// Package fingerprint discovers the host's attributes and capacity under
// Nomad's attribute names (cpu.*, memory.*, kernel.*, os.*, unique.*).
package fingerprint

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/orch-project/orch/structs"
)

// DefaultMHzPerCore is assumed when the CPU frequency cannot be read (VMs
// often hide it).
const DefaultMHzPerCore = 1000

// Result is the host's fingerprint.
type Result struct {
	Attributes map[string]string
	CPUCores   int
	// Cores are the usable CPU IDs (nil when unknown).
	Cores    []uint16
	TotalMHz int64
	MemoryMB int64
	DiskMB   int64
	IP       string
}

// Host fingerprints the machine; dataDir is where disk space is measured
// and advertiseIP, when set, is the address other nodes reach this one at.
func Host(dataDir, advertiseIP string) *Result {
	r := &Result{Attributes: map[string]string{}}
	a := r.Attributes
	a["kernel.name"] = runtime.GOOS
	a["cpu.arch"] = runtime.GOARCH
	a["os.name"], a["os.version"] = osRelease()
	if v := kernelVersion(); v != "" {
		a["kernel.version"] = v
	}
	if h, err := os.Hostname(); err == nil {
		a["unique.hostname"] = h
	}

	r.CPUCores = runtime.NumCPU()
	if r.Cores = usableCores(); len(r.Cores) > 0 {
		r.CPUCores = len(r.Cores)
		a["cpu.reservablecores"] = strconv.Itoa(len(r.Cores))
	}
	mhz, model := cpuInfo()
	if mhz <= 0 {
		mhz = DefaultMHzPerCore
	}
	r.TotalMHz = int64(mhz) * int64(r.CPUCores)
	a["cpu.numcores"] = strconv.Itoa(r.CPUCores)
	a["cpu.frequency"] = strconv.Itoa(mhz)
	a["cpu.totalcompute"] = strconv.FormatInt(r.TotalMHz, 10)
	if model != "" {
		a["cpu.modelname"] = model
	}

	if total := memTotalBytes(); total > 0 {
		r.MemoryMB = int64(total >> 20)
		a["memory.totalbytes"] = strconv.FormatUint(total, 10)
	}

	if dataDir != "" {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(dataDir, &fs); err == nil {
			total := fs.Blocks * uint64(fs.Bsize)
			free := fs.Bavail * uint64(fs.Bsize)
			r.DiskMB = int64(free >> 20)
			a["unique.storage.volume"] = dataDir
			a["unique.storage.bytestotal"] = strconv.FormatUint(total, 10)
			a["unique.storage.bytesfree"] = strconv.FormatUint(free, 10)
		}
	}

	r.IP = advertiseIP
	if r.IP == "" || r.IP == "0.0.0.0" || r.IP == "::" {
		r.IP = defaultIP()
	}
	a["unique.network.ip-address"] = r.IP

	a["nomad.version"] = structs.Version
	a["orch.version"] = structs.Version
	return r
}

// cpuInfo returns the per-core MHz (cpufreq's maximum when available,
// else /proc/cpuinfo's current value) and the model name.
func cpuInfo() (int, string) {
	mhz := 0
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
		if khz, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			mhz = khz / 1000
		}
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return mhz, ""
	}
	defer f.Close()
	return parseCPUInfo(f, mhz)
}

func parseCPUInfo(f *os.File, mhz int) (int, string) {
	model := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if model == "" {
				model = v
			}
		case "cpu MHz":
			if mhz == 0 {
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					mhz = int(x)
				}
			}
		}
	}
	return mhz, model
}

func memTotalBytes() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return parseMemTotal(b)
}

func parseMemTotal(b []byte) uint64 {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osRelease() (name, version string) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS, ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = runtime.GOOS
	}
	return name, version
}

// defaultIP is the source address of the default route, found by
// "connecting" a UDP socket (no packet is sent); else the first global
// unicast address; else loopback.
func defaultIP() string {
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && !ua.IP.IsUnspecified() {
			return ua.IP.String()
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
