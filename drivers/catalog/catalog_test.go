package catalog

import (
	"context"
	"errors"
	"testing"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
)

func TestRawExecOffByDefault(t *testing.T) {
	ds := New(Config{})
	d, err := Lookup(ds, "raw_exec")
	if err != nil {
		t.Fatal(err)
	}
	if fp := d.Fingerprint(context.Background()); fp.Detected {
		t.Fatal("raw_exec enabled without the option")
	}
	if d.ConfigSpec() == nil {
		t.Fatal("a disabled driver must still give the jobspec its schema")
	}
	ds = New(Config{Options: map[string]string{"driver.raw_exec.enable": "1"}})
	if fp := ds["raw_exec"].Fingerprint(context.Background()); !fp.Healthy {
		t.Fatalf("raw_exec not enabled by option: %+v", fp)
	}
}

func TestAllowDenyAndFailures(t *testing.T) {
	broken := Factory{Name: "broken", New: func(Config) (drivers.Driver, error) { return nil, errors.New("no daemon") }}
	other := Factory{Name: "other", New: func(c Config) (drivers.Driver, error) { return rawexec.New(rawexec.Config{}), nil }}

	ds := Build(Config{}, RawExec, broken, other)
	if got := Names(ds); len(got) != 2 || got[0] != "other" || got[1] != "raw_exec" {
		t.Fatalf("Build = %v", got)
	}
	ds = Build(Config{Options: map[string]string{"driver.allowlist": "raw_exec"}}, RawExec, other)
	if got := Names(ds); len(got) != 1 || got[0] != "raw_exec" {
		t.Fatalf("allowlist: %v", got)
	}
	ds = Build(Config{Options: map[string]string{"driver.denylist": " raw_exec ,x"}}, RawExec, other)
	if got := Names(ds); len(got) != 1 || got[0] != "other" {
		t.Fatalf("denylist: %v", got)
	}
	if _, err := Lookup(ds, "docker"); err == nil {
		t.Fatal("Lookup of missing driver succeeded")
	}
}

func TestConfigOptions(t *testing.T) {
	c := Config{Options: map[string]string{"a": "true", "b": "nope", "s": "x"}}
	if !c.Bool("a", false) || !c.Bool("b", true) || c.Bool("b", false) || !c.Bool("missing", true) {
		t.Fatal("Bool misread options")
	}
	if c.String("s", "d") != "x" || c.String("missing", "d") != "d" {
		t.Fatal("String misread options")
	}
}

func TestSpecsAndValidateConfig(t *testing.T) {
	specs := Specs()
	for _, n := range []string{"raw_exec", "exec", "docker", "java"} {
		if specs[n] == nil || Spec(n) == nil {
			t.Errorf("no schema for %s", n)
		}
	}
	if Spec("nope") != nil {
		t.Fatal("schema for unknown driver")
	}
	if ok, err := ValidateConfig("raw_exec", map[string]any{"command": "/bin/true"}); !ok || err != nil {
		t.Fatalf("valid raw_exec config: %v %v", ok, err)
	}
	if ok, err := ValidateConfig("docker", map[string]any{"imagee": "x"}); !ok || err == nil {
		t.Fatalf("bad docker config accepted: %v", ok)
	}
	// Privileges are left to the client that runs the task.
	if _, err := ValidateConfig("docker", map[string]any{"image": "x", "privileged": true}); err != nil {
		t.Fatalf("privileged rejected at validation: %v", err)
	}
	if ok, _ := ValidateConfig("bogus", nil); ok {
		t.Fatal("unknown driver reported as known")
	}
}
