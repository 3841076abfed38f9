package agent

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/client/fingerprint"
	"github.com/orch-project/orch/drivers/identity"
)

// pluginSetting is one setting of a driver's `plugin "<name>" { config {
// ... } }` block and the client option the driver reads it from.
type pluginSetting struct {
	option string
	kind   string // "bool", "string" (ids and ranges), "list"
}

// pluginSettings are the plugin settings orch has, as Nomad spells them.
// Any other setting is an error with its position: a plugin setting that
// parsed and did nothing would be a promise orch does not keep.
var pluginSettings = map[string]map[string]pluginSetting{
	"raw_exec": {
		"enabled":               {"driver.raw_exec.enable", "bool"},
		identity.DeniedHostUIDs: {identity.DriverOption("raw_exec", identity.DeniedHostUIDs), "string"},
		identity.DeniedHostGIDs: {identity.DriverOption("raw_exec", identity.DeniedHostGIDs), "string"},
	},
	"exec": {
		"allow_caps":            {"exec.caps.allowlist", "list"},
		identity.DeniedHostUIDs: {identity.DriverOption("exec", identity.DeniedHostUIDs), "string"},
		identity.DeniedHostGIDs: {identity.DriverOption("exec", identity.DeniedHostGIDs), "string"},
	},
	"java": {
		identity.DeniedHostUIDs: {identity.DriverOption("java", identity.DeniedHostUIDs), "string"},
		identity.DeniedHostGIDs: {identity.DriverOption("java", identity.DeniedHostGIDs), "string"},
	},
	// The NVIDIA device plugin, under its current and its older name:
	// GPUs fingerprinted through nvidia-smi (client/fingerprint).
	"nomad-device-nvidia": nvidiaSettings,
	"nvidia-gpu":          nvidiaSettings,
	"docker": {
		"allow_privileged":      {"docker.privileged.enabled", "bool"},
		"allow_caps":            {"docker.caps.allowlist", "list"},
		"allow_runtimes":        {"docker.runtimes.allowlist", "list"},
		"endpoint":              {"docker.endpoint", "string"},
		"infra_image":           {"docker.infra_image", "string"},
		identity.DeniedHostUIDs: {identity.DriverOption("docker", identity.DeniedHostUIDs), "string"},
		identity.DeniedHostGIDs: {identity.DriverOption("docker", identity.DeniedHostGIDs), "string"},
	},
}

var nvidiaSettings = map[string]pluginSetting{
	"enabled":            {fingerprint.OptNvidiaEnabled, "bool"},
	"ignored_gpu_ids":    {fingerprint.OptNvidiaIgnored, "list"},
	"fingerprint_period": {fingerprint.OptNvidiaPeriod, "duration"},
}

// pluginBlocks are the nested blocks a plugin's config may have:
// docker's `volumes { enabled = true }`.
var pluginBlocks = map[string]map[string]map[string]pluginSetting{
	"docker": {"volumes": {"enabled": {"docker.volumes.enabled", "bool"}}},
}

// pluginIgnored are plugin blocks orch accepts without acting on them
// when their settings ask for what orch does anyway: each returns why that
// is harmless (named in Config.Warnings, config_nomad.go) or an error.
var pluginIgnored = map[string]map[string]func(hcl.Body) (string, error){
	"docker": {"gc": dockerGC},
}

// dockerGC accepts docker's gc block when it asks for orch's behaviour:
// containers removed with their task, images kept.
func dockerGC(body hcl.Body) (string, error) {
	c, diags := body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "image"}, {Name: "image_delay"}, {Name: "container"}}})
	if diags.HasErrors() {
		return "", diags
	}
	for name, want := range map[string]bool{"image": false, "container": true} {
		a := c.Attributes[name]
		if a == nil {
			continue
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return "", diags
		}
		if v.Type() != cty.Bool || v.True() != want {
			return "", fmt.Errorf("%s: gc.%s: orch only does %s = %v (containers are removed with their task, images are kept)",
				at(a.NameRange), name, name, want)
		}
	}
	return "orch removes a task's container with the task and keeps images", nil
}

// loadPlugin reads one plugin block into c.Plugins (its settings as Go
// values) and c.Options (the client options the drivers read).
func (c *Config) loadPlugin(name string, body hcl.Body) error {
	settings, known := pluginSettings[name]
	if !known {
		return fmt.Errorf("plugin %q: no such plugin (orch has %s)", name, strings.Join(sortedKeys(pluginSettings), ", "))
	}
	m := map[string]any{}
	c.Plugins[name] = m
	if body == nil {
		return nil
	}
	schema := &hcl.BodySchema{}
	for k := range settings {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: k})
	}
	for b := range pluginBlocks[name] {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: b})
	}
	for b := range pluginIgnored[name] {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: b})
	}
	content, diags := body.Content(schema)
	if diags.HasErrors() {
		return fmt.Errorf("plugin %q config: %s", name, diags.Error())
	}
	if err := c.applyPluginAttrs(name, content.Attributes, settings, m); err != nil {
		return err
	}
	for _, blk := range content.Blocks {
		if check, ok := pluginIgnored[name][blk.Type]; ok {
			why, err := check(blk.Body)
			if err != nil {
				return fmt.Errorf("plugin %q config: %w", name, err)
			}
			c.Warnings = append(c.Warnings, fmt.Sprintf("plugin %q %s (%s): %s", name, blk.Type, at(blk.DefRange), why))
			continue
		}
		inner := pluginBlocks[name][blk.Type]
		is := &hcl.BodySchema{}
		for k := range inner {
			is.Attributes = append(is.Attributes, hcl.AttributeSchema{Name: k})
		}
		ic, diags := blk.Body.Content(is)
		if diags.HasErrors() {
			return fmt.Errorf("plugin %q config: %s", name, diags.Error())
		}
		sub := map[string]any{}
		m[blk.Type] = sub
		if err := c.applyPluginAttrs(name, ic.Attributes, inner, sub); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) applyPluginAttrs(plugin string, attrs hcl.Attributes, settings map[string]pluginSetting, m map[string]any) error {
	for key, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("plugin %q config: %s", plugin, diags.Error())
		}
		gv := ctyToGo(v)
		s := settings[key]
		opt, err := optionValue(s.kind, gv)
		if err != nil {
			return fmt.Errorf("%s: plugin %q config: %s %w", a.Range.String(), plugin, key, err)
		}
		m[key] = gv
		c.Options[s.option] = opt
	}
	return nil
}

// optionValue renders a plugin setting as a client option string.
func optionValue(kind string, v any) (string, error) {
	switch kind {
	case "bool":
		if b, ok := v.(bool); ok {
			return fmt.Sprint(b), nil
		}
		return "", fmt.Errorf("must be a bool")
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("must be a string")
	case "duration":
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("must be a duration string")
		}
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			return "", fmt.Errorf("%q is not a positive duration", s)
		}
		return s, nil
	case "list":
		l, ok := v.([]any)
		if !ok {
			return "", fmt.Errorf("must be a list of strings")
		}
		parts := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("must be a list of strings")
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
