// Package catalog lists the task drivers compiled into orch so the agent and
// the jobspec parser can look them up by name. Adding a driver means adding
// one Factory to Builtin; nothing else here changes.
package catalog

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/orch-project/orch/drivers"
)

// Config is what every driver constructor sees.
type Config struct {
	// Options are the agent's client options (Nomad's `client { options }`),
	// e.g. "driver.raw_exec.enable" = "1", "driver.allowlist" = "docker,exec".
	Options map[string]string
	Logger  *slog.Logger
	// DataDir is the client's data dir; drivers keep their own state in a
	// subdirectory named after them.
	DataDir string
	// NodeID labels what drivers create (e.g. containers) so that orphans
	// of this node can be found after a crash.
	NodeID string
}

// StateDir returns the directory a driver keeps its state in, or "" when
// the config has no data dir (the driver's own default applies).
func (c Config) StateDir(driver string) string {
	if c.DataDir == "" {
		return ""
	}
	return filepath.Join(c.DataDir, "drivers", driver)
}

// Bool reads a boolean option ("1", "true", ...); absent or unparsable
// values yield def.
func (c Config) Bool(key string, def bool) bool {
	v, ok := c.Options[key]
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return def
	}
	return b
}

// String reads a string option, def when absent.
func (c Config) String(key, def string) string {
	if v, ok := c.Options[key]; ok {
		return v
	}
	return def
}

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Factory builds one driver.
type Factory struct {
	Name string
	New  func(Config) (drivers.Driver, error)
}

// Builtin lists the drivers compiled into orch.
func Builtin() []Factory {
	return []Factory{RawExec, Exec, Docker, Java}
}

// New builds the built-in drivers for cfg.
func New(cfg Config) map[string]drivers.Driver {
	return Build(cfg, Builtin()...)
}

// Build constructs the given drivers, honouring the "driver.allowlist" and
// "driver.denylist" options (comma-separated names). A driver whose
// constructor fails is logged and left out, so one broken dependency (say,
// an unreachable Docker daemon at boot) does not take the others down.
func Build(cfg Config, factories ...Factory) map[string]drivers.Driver {
	allow := nameSet(cfg.String("driver.allowlist", ""))
	deny := nameSet(cfg.String("driver.denylist", ""))
	out := make(map[string]drivers.Driver, len(factories))
	for _, f := range factories {
		if len(allow) > 0 && !allow[f.Name] || deny[f.Name] {
			continue
		}
		d, err := f.New(cfg)
		if err != nil {
			cfg.logger().Warn("driver unavailable", "driver", f.Name, "error", err)
			continue
		}
		if d == nil {
			continue
		}
		out[f.Name] = d
	}
	return out
}

// Names returns the drivers' names, sorted.
func Names(ds map[string]drivers.Driver) []string {
	out := make([]string, 0, len(ds))
	for n := range ds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the named driver or an error naming the known ones.
func Lookup(ds map[string]drivers.Driver, name string) (drivers.Driver, error) {
	if d, ok := ds[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("unknown driver %q (available: %s)", name, strings.Join(Names(ds), ", "))
}

func nameSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out[p] = true
		}
	}
	return out
}
