package isolation

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// DefaultUser is who isolated tasks run as when the job names nobody.
const DefaultUser = "nobody"

// Identity is a resolved task user.
type Identity struct {
	UID    int
	GID    int
	Groups []int
}

// LookupUser resolves name against passwd and group files (normally the
// host's /etc/passwd and /etc/group). It accepts a user name, "uid" or
// "uid:gid"; a bare numeric uid takes its primary group from passwd when
// listed there, else the same number.
func LookupUser(passwdPath, groupPath, name string) (*Identity, error) {
	if name == "" {
		name = DefaultUser
	}
	if uidStr, gidStr, ok := strings.Cut(name, ":"); ok {
		uid, err1 := strconv.Atoi(uidStr)
		gid, err2 := strconv.Atoi(gidStr)
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return nil, fmt.Errorf("user %q: want name, uid or uid:gid", name)
		}
		return &Identity{UID: uid, GID: gid}, nil
	}
	f, err := os.Open(passwdPath)
	if err != nil {
		return nil, fmt.Errorf("open passwd: %w", err)
	}
	defer f.Close()
	numeric, numErr := strconv.Atoi(name)
	id, userName, err := scanPasswd(f, name, numeric, numErr == nil)
	if err != nil {
		return nil, err
	}
	if id == nil {
		if numErr == nil && numeric >= 0 {
			return &Identity{UID: numeric, GID: numeric}, nil
		}
		return nil, fmt.Errorf("user %q not found in %s", name, passwdPath)
	}
	if g, err := os.Open(groupPath); err == nil {
		defer g.Close()
		id.Groups = scanGroups(g, userName, id.GID)
	}
	return id, nil
}

// DefaultUserDenylist is who tasks may not run as unless the operator
// says otherwise.
var DefaultUserDenylist = []string{"root"}

// CheckUser refuses a task user the operator denies (deny nil: the
// default). A user is denied by name, or by uid when it resolves to the
// uid of a denied name, so "0", "0:0" or another name for uid 0 are as
// denied as "root". option names the setting in the error.
func CheckUser(passwdPath, name string, deny []string, option string) error {
	if deny == nil {
		deny = DefaultUserDenylist
	}
	if name == "" {
		name = DefaultUser
	}
	if len(deny) == 0 {
		return nil
	}
	refuse := func() error {
		return fmt.Errorf("user %q is not allowed by the client's %s", name, option)
	}
	for _, d := range deny {
		if d == name {
			return refuse()
		}
	}
	uid, err := lookupUID(passwdPath, name)
	if err != nil {
		return err
	}
	for _, d := range deny {
		if duid, err := lookupUID(passwdPath, d); err == nil && duid == uid {
			return refuse()
		}
	}
	return nil
}

// lookupUID resolves a user the way LookupUser does, uid only.
func lookupUID(passwdPath, name string) (int, error) {
	id, err := LookupUser(passwdPath, "", name)
	if err != nil {
		return 0, err
	}
	return id.UID, nil
}

// ParseUserList reads a comma-separated user list option.
func ParseUserList(s string) []string {
	out := []string{}
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func scanPasswd(r io.Reader, name string, uid int, byUID bool) (*Identity, string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < 4 {
			continue
		}
		u, err1 := strconv.Atoi(fields[2])
		g, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			continue
		}
		if fields[0] == name || (byUID && u == uid) {
			return &Identity{UID: u, GID: g}, fields[0], nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("read passwd: %w", err)
	}
	return nil, "", nil
}

// scanGroups lists the supplementary groups naming user as a member.
func scanGroups(r io.Reader, user string, primary int) []int {
	var out []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) < 4 || fields[3] == "" {
			continue
		}
		gid, err := strconv.Atoi(fields[2])
		if err != nil || gid == primary {
			continue
		}
		for _, m := range strings.Split(fields[3], ",") {
			if m == user {
				out = append(out, gid)
				break
			}
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
