// Package testenv holds the one rule tests follow for what the machine must
// provide (root, cgroups, dockerd, a JDK): skip where it is missing on a
// developer's machine, fail where CI is set, so CI can never go green by
// skipping.
package testenv

import (
	"os"
	"testing"
)

// Need skips tb when err (why the dependency is missing) is non-nil,
// unless the CI environment variable is set: then it fails.
func Need(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s unavailable with CI set: %v", what, err)
	}
	tb.Skipf("%s unavailable: %v", what, err)
}
