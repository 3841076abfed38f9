package jobspec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/structs"
)

// taskUserEnv checks what a task asks to run as and with: a `user` whose
// ids are out of range ("4294967296" would wrap to uid 0) or malformed, and
// an environment the kernel cannot carry (a NUL anywhere, "=" in a name or
// an empty name fails every start) are refused at submit, on every path.
func (v *validator) taskUserEnv(path string, t *structs.Task) {
	if err := identity.Validate(t.User); err != nil {
		v.add(joinPath(path, "user"), "%v", err)
	}
	keys := make([]string, 0, len(t.Env))
	for k := range t.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msg := envProblem(k, t.Env[k]); msg != "" {
			v.add(joinPath(path, "env"), "%s", msg)
		}
	}
}

// envProblem says why KEY=VALUE cannot be a process environment entry.
func envProblem(k, val string) string {
	switch {
	case k == "":
		return "environment variable with an empty name"
	case strings.ContainsRune(k, 0):
		return fmt.Sprintf("environment variable name %q contains a NUL byte", k)
	case strings.ContainsRune(k, '='):
		return fmt.Sprintf("environment variable name %q contains \"=\"", k)
	case strings.ContainsRune(val, 0):
		return fmt.Sprintf("environment variable %q has a NUL byte in its value", k)
	}
	return ""
}
