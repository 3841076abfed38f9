package exec

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/drivers/identity"
)

// Namespace modes of pid_mode and ipc_mode.
const (
	ModePrivate = "private"
	ModeHost    = "host"
)

// configSpec is the schema of an exec task's `config {}` block.
func configSpec() hcldec.Spec {
	return hcldec.ObjectSpec{
		"command":    &hcldec.AttrSpec{Name: "command", Type: cty.String, Required: true},
		"args":       &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
		"pid_mode":   &hcldec.AttrSpec{Name: "pid_mode", Type: cty.String},
		"ipc_mode":   &hcldec.AttrSpec{Name: "ipc_mode", Type: cty.String},
		"cap_add":    &hcldec.AttrSpec{Name: "cap_add", Type: cty.List(cty.String)},
		"cap_drop":   &hcldec.AttrSpec{Name: "cap_drop", Type: cty.List(cty.String)},
		"pids_limit": &hcldec.AttrSpec{Name: "pids_limit", Type: cty.Number},
	}
}

// TaskConfig is the decoded `config {}` block.
type TaskConfig struct {
	Command   string
	Args      []string
	PIDMode   string
	IPCMode   string
	CapAdd    []string
	CapDrop   []string
	PidsLimit int64
}

// ParseConfig decodes and checks a config map as it arrives over the API.
func ParseConfig(cfg map[string]any) (*TaskConfig, error) {
	tc := TaskConfig{PIDMode: ModePrivate, IPCMode: ModePrivate}
	var err error
	for k, v := range cfg {
		switch k {
		case "command":
			tc.Command, err = drivers.String(v)
		case "args":
			tc.Args, err = drivers.StringList(v)
		case "pid_mode":
			err = mode(v, &tc.PIDMode)
		case "ipc_mode":
			err = mode(v, &tc.IPCMode)
		case "cap_add":
			tc.CapAdd, err = drivers.StringList(v)
		case "cap_drop":
			tc.CapDrop, err = drivers.StringList(v)
		case "pids_limit":
			tc.PidsLimit, err = drivers.Int(v)
			if err == nil && tc.PidsLimit < 0 {
				err = errors.New("must not be negative")
			}
		default:
			return nil, fmt.Errorf("exec: unknown config key %q", k)
		}
		if err != nil {
			return nil, fmt.Errorf("exec: config.%s: %w", k, err)
		}
	}
	if tc.Command == "" {
		return nil, errors.New("exec: config.command is required")
	}
	if _, err := isolation.Capabilities(tc.CapAdd, tc.CapDrop); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return &tc, nil
}

func mode(v any, dst *string) error {
	s, err := drivers.String(v)
	if err != nil {
		return err
	}
	switch s {
	case "":
	case ModePrivate, ModeHost:
		*dst = s
	default:
		return fmt.Errorf("must be %q or %q, got %q", ModePrivate, ModeHost, s)
	}
	return nil
}

// OptionCapAllowlist lists the capabilities cap_add may name
// (comma-separated, default Docker's default set; "all" allows any). The
// task user is bounded by package identity's options (user.denylist,
// group.denylist, user.checked_drivers, denied_host_uids/gids).
const OptionCapAllowlist = "exec.caps.allowlist"

// HostPolicy is the operator's bound on a task's identity and
// capabilities, for one driver (exec or java).
type HostPolicy struct {
	Identity identity.Policy
	// CapAllowlist nil means isolation.DefaultCapAllowlist.
	CapAllowlist []string
}

// PolicyFromOptions reads driver's policy from the client options.
func PolicyFromOptions(driver string, opts map[string]string) (HostPolicy, error) {
	var p HostPolicy
	var err error
	if p.Identity, err = identity.PolicyFromOptions(driver, opts); err != nil {
		return HostPolicy{}, err
	}
	if v, ok := opts[OptionCapAllowlist]; ok {
		caps, err := isolation.ParseCapAllowlist(v)
		if err != nil {
			return HostPolicy{}, fmt.Errorf("option %s: %w", OptionCapAllowlist, err)
		}
		p.CapAllowlist = caps
	}
	return p, nil
}

// DefaultPolicy is driver's policy with every default.
func DefaultPolicy(driver string) HostPolicy {
	p, _ := PolicyFromOptions(driver, nil)
	return p
}

// Check resolves the task's user against the host's passwd and group files
// (as the task will run) and refuses it when the resolved uid or any of
// its gids is denied, or when cap_add reaches past the allowlist. It
// returns the identity to run. It runs at Start, on the client whose
// options apply.
func (p HostPolicy) Check(user string, capAdd []string) (*identity.Identity, error) {
	src, err := identity.HostSource()
	if err != nil {
		return nil, err
	}
	id, err := identity.Resolve(user, isolation.DefaultUser, identity.GIDSameAsUID, src)
	if err != nil {
		return nil, err
	}
	if err := p.Identity.Check(user, id, src); err != nil {
		return nil, err
	}
	if err := isolation.CheckCapAdd(capAdd, p.CapAllowlist, OptionCapAllowlist); err != nil {
		return nil, err
	}
	return id, nil
}
