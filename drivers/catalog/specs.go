package catalog

import (
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/orch-project/orch/drivers"
)

// Checking a job (CLI validate/run, the server's register and validate
// endpoints) needs each driver's config schema and validator, but none of
// its runtime state. The constructors are cheap and contact no daemon, so
// one set built on first use serves every caller.
var (
	checkersOnce sync.Once
	checkers     map[string]drivers.Driver
)

func checkDrivers() map[string]drivers.Driver {
	checkersOnce.Do(func() {
		checkers = Build(Config{
			// Privileges are the client's decision: a job asking for a
			// privileged container is valid even if this agent would refuse
			// to run it.
			Options: map[string]string{"docker.privileged.enabled": "true"},
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, Builtin()...)
	})
	return checkers
}

// Specs returns the config schema of every built-in driver, by name.
func Specs() map[string]hcldec.Spec {
	ds := checkDrivers()
	out := make(map[string]hcldec.Spec, len(ds))
	for n, d := range ds {
		if s := d.ConfigSpec(); s != nil {
			out[n] = s
		}
	}
	return out
}

// Spec returns the named driver's config schema, nil for an unknown driver.
// Its signature fits jobspec.ParseConfig.DriverSpec.
func Spec(driver string) hcldec.Spec {
	if d, ok := checkDrivers()[driver]; ok {
		return d.ConfigSpec()
	}
	return nil
}

// ValidateConfig runs the named driver's own check of a decoded task
// config. ok is false when no such driver is built in.
func ValidateConfig(driver string, cfg map[string]any) (ok bool, err error) {
	d, found := checkDrivers()[driver]
	if !found {
		return false, nil
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	return true, d.ValidateConfig(cfg)
}
