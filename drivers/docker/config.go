package docker

import (
	"errors"
	"fmt"
	"math"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// taskConfig is a task's decoded `config {}` block.
type taskConfig struct {
	Image            string
	Command          string
	Args             []string
	Entrypoint       []string
	Ports            []string
	NetworkMode      string
	Volumes          []volumeSpec
	Mounts           []mountConfig
	Labels           map[string]string
	WorkDir          string
	Hostname         string
	ExtraHosts       []string
	DNSServers       []string
	CapAdd           []string
	CapDrop          []string
	Privileged       bool
	ForcePull        bool
	ImagePullTimeout time.Duration
	PidsLimit        int64
	Auth             *authConfig
	AuthSoftFail     bool
	Runtime          string
	UsernsMode       string
	DNSSearch        []string
	DNSOptions       []string
	Devices          []deviceConfig
	ShmSize          int64
	Init             bool
	ReadonlyRootfs   bool
	MemoryHardLimit  int64
	Sysctl           map[string]string
	Ulimits          []ulimit
}

// ulimit is one `ulimit` entry: "soft" or "soft:hard".
type ulimit struct {
	Name       string
	Soft, Hard int64
}

// deviceConfig is one entry of `devices`: a host device made available
// in the container.
type deviceConfig struct {
	HostPath          string
	ContainerPath     string
	CgroupPermissions string
}

// volumeSpec is one "host:container[:ro]" entry of `volumes`.
type volumeSpec struct {
	Host      string
	Container string
	ReadOnly  bool
}

// mountConfig is one `mount` block.
type mountConfig struct {
	Type     string
	Source   string
	Target   string
	ReadOnly bool
}

// authConfig holds registry credentials for pulls.
type authConfig struct {
	Username      string
	Password      string
	ServerAddress string
}

// knownKeys are the config keys the driver understands; anything else is
// rejected so a typo does not silently do nothing.
var knownKeys = map[string]bool{
	"image": true, "command": true, "args": true, "entrypoint": true, "ports": true,
	"network_mode": true, "volumes": true, "mount": true, "mounts": true, "labels": true,
	"work_dir": true, "hostname": true, "extra_hosts": true, "dns_servers": true,
	"cap_add": true, "cap_drop": true, "privileged": true, "force_pull": true, "auth": true,
	"image_pull_timeout": true, "pids_limit": true, "auth_soft_fail": true, "runtime": true,
	"userns_mode": true, "dns_search_domains": true, "dns_options": true, "devices": true,
	"shm_size": true, "init": true, "readonly_rootfs": true,
	"memory_hard_limit": true, "sysctl": true, "ulimit": true,
}

// reservedLabelPrefix is owned by the driver: tasks may not forge the labels
// orphan cleanup relies on.
const reservedLabelPrefix = "com.orch."

// parseConfig decodes and checks a config map as it arrives over JSON or
// from the HCL decoder. allowPrivileged is the operator's switch. All
// problems are reported together.
func parseConfig(raw map[string]any, allowPrivileged bool) (*taskConfig, error) {
	p := &parser{}
	c := &taskConfig{}

	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownKeys[k] {
			p.errf("unknown config key %q", k)
		}
	}

	c.Image = p.str(raw, "image")
	if strings.TrimSpace(c.Image) == "" {
		p.errf("image is required")
	}
	c.Command = p.str(raw, "command")
	c.Args = p.strList(raw, "args")
	c.Entrypoint = p.strList(raw, "entrypoint")
	c.Ports = p.strList(raw, "ports")
	seenPort := map[string]bool{}
	for _, l := range c.Ports {
		if l == "" {
			p.errf("ports: empty port label")
		} else if seenPort[l] {
			p.errf("ports: label %q listed twice", l)
		}
		seenPort[l] = true
	}
	c.NetworkMode = p.str(raw, "network_mode")
	for _, v := range p.strList(raw, "volumes") {
		vs, err := parseVolume(v)
		if err != nil {
			p.errs = append(p.errs, err)
			continue
		}
		c.Volumes = append(c.Volumes, vs)
	}
	for _, key := range []string{"mount", "mounts"} {
		for i, m := range p.objList(raw, key) {
			mc, err := parseMount(m)
			if err != nil {
				p.errf("%s[%d]: %v", key, i, err)
				continue
			}
			c.Mounts = append(c.Mounts, mc)
		}
	}
	c.Labels = p.strMap(raw, "labels")
	for k := range c.Labels {
		if strings.HasPrefix(k, reservedLabelPrefix) {
			p.errf("labels: %q uses the reserved prefix %q", k, reservedLabelPrefix)
		}
	}
	c.WorkDir = p.str(raw, "work_dir")
	if c.WorkDir != "" && !path.IsAbs(c.WorkDir) {
		p.errf("work_dir %q must be an absolute path", c.WorkDir)
	}
	c.Hostname = p.str(raw, "hostname")
	c.ExtraHosts = p.strList(raw, "extra_hosts")
	for _, h := range c.ExtraHosts {
		host, ip, ok := strings.Cut(h, ":")
		if !ok || host == "" || (net.ParseIP(ip) == nil && ip != "host-gateway") {
			p.errf("extra_hosts: %q is not \"host:ip\"", h)
		}
	}
	c.DNSServers = p.strList(raw, "dns_servers")
	for _, s := range c.DNSServers {
		if net.ParseIP(s) == nil {
			p.errf("dns_servers: %q is not an IP address", s)
		}
	}
	c.CapAdd = p.strList(raw, "cap_add")
	c.CapDrop = p.strList(raw, "cap_drop")
	c.Privileged = p.boolean(raw, "privileged")
	if c.Privileged && !allowPrivileged {
		p.errf("privileged containers are not allowed on this node (driver option allow_privileged is off)")
	}
	c.ForcePull = p.boolean(raw, "force_pull")
	if s := p.str(raw, "image_pull_timeout"); s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			p.errf("image_pull_timeout: %v", err)
		case d <= 0:
			p.errf("image_pull_timeout must be positive, got %s", s)
		default:
			c.ImagePullTimeout = d
		}
	}
	c.PidsLimit = p.integer(raw, "pids_limit")
	if c.PidsLimit < 0 {
		p.errf("pids_limit must not be negative")
	}
	if auths := p.objList(raw, "auth"); len(auths) > 1 {
		p.errf("auth: at most one block allowed")
	} else if len(auths) == 1 {
		a := auths[0]
		c.Auth = &authConfig{
			Username:      p.str(a, "username"),
			Password:      p.str(a, "password"),
			ServerAddress: p.str(a, "server_address"),
		}
	}

	c.AuthSoftFail = p.boolean(raw, "auth_soft_fail")
	c.Runtime = p.str(raw, "runtime")
	c.UsernsMode = p.str(raw, "userns_mode")
	if c.UsernsMode != "" && c.UsernsMode != "host" {
		p.errf("userns_mode %q must be \"host\" (or unset)", c.UsernsMode)
	}
	c.DNSSearch = p.strList(raw, "dns_search_domains")
	c.DNSOptions = p.strList(raw, "dns_options")
	for i, m := range p.objList(raw, "devices") {
		dc, err := parseDevice(m)
		if err != nil {
			p.errf("devices[%d]: %v", i, err)
			continue
		}
		c.Devices = append(c.Devices, dc)
	}

	c.ShmSize = p.integer(raw, "shm_size")
	c.Init = p.boolean(raw, "init")
	c.ReadonlyRootfs = p.boolean(raw, "readonly_rootfs")
	c.MemoryHardLimit = p.integer(raw, "memory_hard_limit")
	if c.ShmSize < 0 || c.MemoryHardLimit < 0 {
		p.errf("shm_size and memory_hard_limit must not be negative")
	}
	c.Sysctl = p.strMap(raw, "sysctl")
	for name, v := range p.strMap(raw, "ulimit") {
		u, err := parseUlimit(name, v)
		if err != nil {
			p.errs = append(p.errs, err)
			continue
		}
		c.Ulimits = append(c.Ulimits, u)
	}
	sort.Slice(c.Ulimits, func(i, j int) bool { return c.Ulimits[i].Name < c.Ulimits[j].Name })

	if len(p.errs) > 0 {
		return nil, fmt.Errorf("invalid docker config: %w", errors.Join(p.errs...))
	}
	return c, nil
}

// parseUlimit reads "soft" or "soft:hard", as Nomad's ulimit map values.
func parseUlimit(name, v string) (ulimit, error) {
	softS, hardS, two := strings.Cut(v, ":")
	soft, err := strconv.ParseInt(strings.TrimSpace(softS), 10, 64)
	if err != nil {
		return ulimit{}, fmt.Errorf("ulimit %s: %q is not \"soft\" or \"soft:hard\"", name, v)
	}
	hard := soft
	if two {
		if hard, err = strconv.ParseInt(strings.TrimSpace(hardS), 10, 64); err != nil || hard < soft {
			return ulimit{}, fmt.Errorf("ulimit %s: %q is not \"soft:hard\" with hard >= soft", name, v)
		}
	}
	return ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// parseDevice reads one `devices` entry. The container path defaults to
// the host path and permissions to "rwm", as in Nomad.
func parseDevice(m map[string]any) (deviceConfig, error) {
	p := &parser{}
	for k := range m {
		switch k {
		case "host_path", "container_path", "cgroup_permissions":
		default:
			p.errf("unknown key %q", k)
		}
	}
	dc := deviceConfig{
		HostPath:          p.str(m, "host_path"),
		ContainerPath:     p.str(m, "container_path"),
		CgroupPermissions: p.str(m, "cgroup_permissions"),
	}
	if dc.HostPath == "" || !path.IsAbs(dc.HostPath) {
		p.errf("host_path %q must be an absolute path", dc.HostPath)
	}
	if dc.ContainerPath == "" {
		dc.ContainerPath = dc.HostPath
	} else if !path.IsAbs(dc.ContainerPath) {
		p.errf("container_path %q must be an absolute path", dc.ContainerPath)
	}
	if dc.CgroupPermissions == "" {
		dc.CgroupPermissions = "rwm"
	}
	if strings.Trim(dc.CgroupPermissions, "rwm") != "" {
		p.errf("cgroup_permissions %q may only contain r, w and m", dc.CgroupPermissions)
	}
	if len(p.errs) > 0 {
		return deviceConfig{}, errors.Join(p.errs...)
	}
	return dc, nil
}

// parseVolume parses "host:container[:ro|rw]".
func parseVolume(v string) (volumeSpec, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return volumeSpec{}, fmt.Errorf("volumes: %q is not \"host:container[:ro]\"", v)
	}
	vs := volumeSpec{Host: parts[0], Container: parts[1]}
	if !path.IsAbs(vs.Container) {
		return volumeSpec{}, fmt.Errorf("volumes: container path in %q must be absolute", v)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			vs.ReadOnly = true
		case "rw":
		default:
			return volumeSpec{}, fmt.Errorf("volumes: mode %q in %q must be ro or rw", parts[2], v)
		}
	}
	return vs, nil
}

func parseMount(m map[string]any) (mountConfig, error) {
	p := &parser{}
	for k := range m {
		switch k {
		case "type", "source", "target", "readonly":
		default:
			p.errf("unknown key %q", k)
		}
	}
	mc := mountConfig{
		Type:     p.str(m, "type"),
		Source:   p.str(m, "source"),
		Target:   p.str(m, "target"),
		ReadOnly: p.boolean(m, "readonly"),
	}
	if mc.Type == "" {
		mc.Type = "volume" // Nomad's default mount type
	}
	switch mc.Type {
	case "bind", "volume":
		if mc.Source == "" {
			p.errf("source is required for a %s mount", mc.Type)
		}
	case "tmpfs":
		if mc.Source != "" {
			p.errf("a tmpfs mount takes no source")
		}
	default:
		p.errf("type %q must be bind, volume or tmpfs", mc.Type)
	}
	if mc.Target == "" {
		p.errf("target is required")
	} else if !path.IsAbs(mc.Target) {
		p.errf("target %q must be an absolute path", mc.Target)
	}
	if len(p.errs) > 0 {
		return mountConfig{}, errors.Join(p.errs...)
	}
	return mc, nil
}

// parser reads loosely typed values (JSON: string, []any, map[string]any,
// float64; HCL decoder: also []string, map[string]string, int64) and
// collects type errors instead of failing on the first.
type parser struct {
	errs []error
}

func (p *parser) errf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *parser) str(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.errf("%s: want a string, got %T", key, v)
	}
	return s
}

func (p *parser) boolean(m map[string]any, key string) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return false
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		// Interpolated values arrive as strings.
		switch b {
		case "true":
			return true
		case "false":
			return false
		}
	}
	p.errf("%s: want a bool, got %T", key, v)
	return false
}

func (p *parser) integer(m map[string]any, key string) int64 {
	v, ok := m[key]
	if !ok || v == nil {
		return 0
	}
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n)
		}
	}
	p.errf("%s: want an integer, got %v (%T)", key, v, v)
	return 0
}

func (p *parser) strList(m map[string]any, key string) []string {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	switch l := v.(type) {
	case []string:
		return append([]string(nil), l...)
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				p.errf("%s[%d]: want a string, got %T", key, i, e)
				continue
			}
			out = append(out, s)
		}
		return out
	}
	p.errf("%s: want a list of strings, got %T", key, v)
	return nil
}

// strMap accepts a map or, as Nomad's JSON encodes HCL1 blocks, a list of maps.
func (p *parser) strMap(m map[string]any, key string) map[string]string {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	out := map[string]string{}
	add := func(mm map[string]any) {
		for k, e := range mm {
			s, ok := e.(string)
			if !ok {
				p.errf("%s.%s: want a string, got %T", key, k, e)
				continue
			}
			out[k] = s
		}
	}
	switch t := v.(type) {
	case map[string]string:
		for k, s := range t {
			out[k] = s
		}
	case map[string]any:
		add(t)
	case []any:
		for i, e := range t {
			mm, ok := e.(map[string]any)
			if !ok {
				p.errf("%s[%d]: want a map, got %T", key, i, e)
				continue
			}
			add(mm)
		}
	case []map[string]any:
		for _, mm := range t {
			add(mm)
		}
	default:
		p.errf("%s: want a map of strings, got %T", key, v)
	}
	return out
}

// objList accepts a single object or a list of objects (HCL blocks).
func (p *parser) objList(m map[string]any, key string) []map[string]any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	switch t := v.(type) {
	case map[string]any:
		return []map[string]any{t}
	case []map[string]any:
		return t
	case []any:
		out := make([]map[string]any, 0, len(t))
		for i, e := range t {
			mm, ok := e.(map[string]any)
			if !ok {
				p.errf("%s[%d]: want a block (object), got %T", key, i, e)
				continue
			}
			out = append(out, mm)
		}
		return out
	}
	p.errf("%s: want a block (object), got %T", key, v)
	return nil
}
