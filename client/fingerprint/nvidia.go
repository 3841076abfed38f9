package fingerprint

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// NVIDIA GPUs are fingerprinted through nvidia-smi, as Nomad's
// nomad-device-nvidia plugin fingerprints them through NVML: one device
// group per model (vendor "nvidia", type "gpu"), one instance per GPU UUID,
// with the plugin's attributes and units. The agent's `plugin
// "nomad-device-nvidia" { config { enabled ignored_gpu_ids
// fingerprint_period } }` settings reach it as client options.

// Client options set by the nvidia plugin block.
const (
	OptNvidiaEnabled   = "device.nvidia.enabled"
	OptNvidiaIgnored   = "device.nvidia.ignored_gpu_ids"
	OptNvidiaPeriod    = "device.nvidia.fingerprint_period"
	defaultNvidiaSMI   = "nvidia-smi"
	defaultNvidiaEvery = time.Minute
)

// nvidiaQuery are the nvidia-smi fields read, in order.
var nvidiaQuery = []string{
	"uuid", "name", "memory.total", "power.limit", "driver_version", "clocks.max.sm", "clocks.max.memory",
	"pci.bus_id", "display_mode", "persistence_mode", "pcie.link.gen.max", "pcie.link.width.max",
}

// NvidiaConfig is the nvidia fingerprinter's configuration.
type NvidiaConfig struct {
	Enabled bool
	Ignored map[string]bool
	Period  time.Duration
	// SMI is the nvidia-smi binary, looked up in PATH when not absolute.
	SMI string
}

// NvidiaConfigFromOptions reads the plugin's client options.
func NvidiaConfigFromOptions(opts map[string]string) (NvidiaConfig, error) {
	c := NvidiaConfig{Enabled: true, Period: defaultNvidiaEvery, SMI: defaultNvidiaSMI}
	if v, ok := opts[OptNvidiaEnabled]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", OptNvidiaEnabled, err)
		}
		c.Enabled = b
	}
	if v := opts[OptNvidiaIgnored]; v != "" {
		c.Ignored = map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			c.Ignored[strings.TrimSpace(id)] = true
		}
	}
	if v := opts[OptNvidiaPeriod]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s: %q is not a positive duration", OptNvidiaPeriod, v)
		}
		c.Period = d
	}
	return c, nil
}

// Nvidia fingerprints GPUs at most once per period.
type Nvidia struct {
	cfg  NvidiaConfig
	mu   sync.Mutex
	last time.Time
	devs []*structs.NodeDeviceResource
}

// NewNvidia returns a fingerprinter; a disabled one reports no devices.
func NewNvidia(cfg NvidiaConfig) *Nvidia { return &Nvidia{cfg: cfg} }

// Devices returns the GPUs as last fingerprinted, running nvidia-smi again
// once the period has passed. A host without nvidia-smi has no GPUs; when
// nvidia-smi fails on a host that had GPUs, they are kept but reported
// unhealthy, so the scheduler grants none of them until it works again.
func (n *Nvidia) Devices(ctx context.Context) []*structs.NodeDeviceResource {
	if n == nil || !n.cfg.Enabled {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.last.IsZero() && time.Since(n.last) < n.cfg.Period {
		return n.devs
	}
	n.last = time.Now()
	out, err := runSMI(ctx, n.cfg.SMI)
	switch {
	case errors.Is(err, errNoSMI):
		n.devs = nil
	case err != nil:
		n.devs = unhealthy(n.devs, err)
	default:
		n.devs = parseNvidiaSMI(out, n.cfg.Ignored)
	}
	return n.devs
}

// errNoSMI means the host has no nvidia-smi, so no NVIDIA GPUs.
var errNoSMI = errors.New("nvidia-smi not found")

func runSMI(ctx context.Context, smi string) ([]byte, error) {
	path, err := exec.LookPath(smi)
	if err != nil {
		return nil, errNoSMI
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--query-gpu="+strings.Join(nvidiaQuery, ","), "--format=csv,noheader,nounits")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func unhealthy(devs []*structs.NodeDeviceResource, err error) []*structs.NodeDeviceResource {
	out := make([]*structs.NodeDeviceResource, len(devs))
	for i, d := range devs {
		c := *d
		c.Instances = make([]*structs.NodeDevice, len(d.Instances))
		for j, in := range d.Instances {
			ci := *in
			ci.Healthy, ci.HealthDescription = false, err.Error()
			c.Instances[j] = &ci
		}
		out[i] = &c
	}
	return out
}

// parseNvidiaSMI groups nvidia-smi's CSV rows by model. Values nvidia-smi
// cannot report ("[N/A]", "[Not Supported]") leave their attribute out.
func parseNvidiaSMI(out []byte, ignored map[string]bool) []*structs.NodeDeviceResource {
	r := csv.NewReader(bytes.NewReader(out))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil
	}
	var groups []*structs.NodeDeviceResource
	for _, row := range rows {
		if len(row) < len(nvidiaQuery) {
			continue
		}
		f := map[string]string{}
		for i, k := range nvidiaQuery {
			if v := strings.TrimSpace(row[i]); v != "" && !strings.HasPrefix(v, "[") {
				f[k] = v
			}
		}
		id, name := f["uuid"], f["name"]
		if id == "" || name == "" || ignored[id] {
			continue
		}
		i := slices.IndexFunc(groups, func(g *structs.NodeDeviceResource) bool { return g.Name == name })
		if i < 0 {
			groups = append(groups, &structs.NodeDeviceResource{
				Vendor: "nvidia", Type: "gpu", Name: name, Attributes: nvidiaAttributes(f),
			})
			i = len(groups) - 1
		}
		in := &structs.NodeDevice{ID: id, Healthy: true}
		if bus := f["pci.bus_id"]; bus != "" {
			in.Locality = &structs.NodeDeviceLocality{PciBusID: bus}
		}
		groups[i].Instances = append(groups[i].Instances, in)
	}
	return groups
}

// nvidiaAttributes are Nomad's nvidia attribute names and units.
func nvidiaAttributes(f map[string]string) map[string]*structs.Attribute {
	a := map[string]*structs.Attribute{}
	num := func(name, field, unit string) {
		if v, err := strconv.ParseFloat(f[field], 64); err == nil {
			if v == float64(int64(v)) {
				a[name] = structs.NewIntAttribute(int64(v), unit)
			} else {
				a[name] = structs.NewFloatAttribute(v, unit)
			}
		}
	}
	num("memory", "memory.total", "MiB")
	num("power", "power.limit", "W")
	num("cores_clock", "clocks.max.sm", "MHz")
	num("memory_clock", "clocks.max.memory", "MHz")
	for name, field := range map[string]string{
		"driver_version": "driver_version", "display_state": "display_mode", "persistence_mode": "persistence_mode",
	} {
		if v := f[field]; v != "" {
			a[name] = structs.NewStringAttribute(v)
		}
	}
	// PCIe bandwidth per lane in MB/s by generation, times the lanes.
	perLane := map[string]int64{"1": 250, "2": 500, "3": 985, "4": 1969, "5": 3938, "6": 7563}
	if lane, ok := perLane[f["pcie.link.gen.max"]]; ok {
		if w, err := strconv.ParseInt(f["pcie.link.width.max"], 10, 64); err == nil {
			a["pci_bandwidth"] = structs.NewIntAttribute(lane*w, "MB/s")
		}
	}
	return a
}
