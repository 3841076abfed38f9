package isolation

import (
	"fmt"
	"sort"

	"github.com/orch-project/orch/drivers/identity"
)

// DefaultUser is who isolated tasks run as when the job names nobody.
const DefaultUser = "nobody"

// ResolveUser resolves a task's `user` against the host's passwd and group
// files the way isolated tasks run it: the default is DefaultUser, and a
// numeric uid the passwd file does not list gets the same number as gid.
func ResolveUser(spec string) (*identity.Identity, error) {
	src, err := identity.HostSource()
	if err != nil {
		return nil, err
	}
	id, err := identity.Resolve(spec, DefaultUser, identity.GIDSameAsUID, src)
	if err != nil {
		return nil, fmt.Errorf("task user: %w", err)
	}
	return id, nil
}

func sortStrings(s []string) { sort.Strings(s) }
