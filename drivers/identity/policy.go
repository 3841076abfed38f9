package identity

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
)

// Client options and plugin options that bound task identities.
const (
	// OptionUserDenylist lists users (names or uids) tasks of the checked
	// drivers may not run as; default "root", as Nomad.
	OptionUserDenylist = "user.denylist"
	// OptionGroupDenylist lists groups (names or gids) tasks of the
	// checked drivers may not run with, as primary or supplementary group;
	// default "root" (gid 0).
	OptionGroupDenylist = "group.denylist"
	// OptionCheckedDrivers lists the drivers the two denylists apply to;
	// default "exec,java", as Nomad's user.checked_drivers.
	OptionCheckedDrivers = "user.checked_drivers"
	// DeniedHostUIDs and DeniedHostGIDs are the per-driver plugin options
	// (plugin "exec" { config { denied_host_uids = "0-999" } }): ids and
	// inclusive ranges the task's resolved ids may not fall in.
	DeniedHostUIDs = "denied_host_uids"
	DeniedHostGIDs = "denied_host_gids"
)

// DriverOption is the client option a driver's plugin option is carried
// in: "<driver>.denied_host_uids".
func DriverOption(driver, option string) string { return driver + "." + option }

// Range is an inclusive range of ids.
type Range struct{ Lo, Hi uint32 }

// ParseRanges reads "0,10-20,65534": ids and inclusive ranges.
func ParseRanges(s string) ([]Range, error) {
	var out []Range
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		l, numeric, err := ParseID(strings.TrimSpace(lo))
		if !numeric || err != nil {
			return nil, fmt.Errorf("%q is not an id or a range of ids", part)
		}
		h := l
		if isRange {
			h, numeric, err = ParseID(strings.TrimSpace(hi))
			if !numeric || err != nil || h < l {
				return nil, fmt.Errorf("%q is not an id or a range of ids", part)
			}
		}
		out = append(out, Range{l, h})
	}
	return out, nil
}

func inRanges(rs []Range, id uint32) bool {
	for _, r := range rs {
		if id >= r.Lo && id <= r.Hi {
			return true
		}
	}
	return false
}

// Policy is what one driver on this client lets a task run as.
type Policy struct {
	// Driver names the driver in errors.
	Driver string
	// Checked says whether the user/group denylists apply to this driver.
	Checked    bool
	DenyUsers  []string // names or uids
	DenyGroups []string // names or gids
	DeniedUIDs []Range
	DeniedGIDs []Range
}

// Active reports whether the policy can refuse anything; a driver that
// must do work to resolve an identity (Docker reads the image) skips it
// when nothing could be refused.
func (p *Policy) Active() bool {
	return (p.Checked && (len(p.DenyUsers) > 0 || len(p.DenyGroups) > 0)) || len(p.DeniedUIDs) > 0 || len(p.DeniedGIDs) > 0
}

// Defaults of the denylists and the checked drivers.
var (
	DefaultUserDenylist   = []string{"root"}
	DefaultGroupDenylist  = []string{"root"}
	DefaultCheckedDrivers = []string{"exec", "java"}
)

// PolicyFromOptions reads driver's policy from the client options.
func PolicyFromOptions(driver string, opts map[string]string) (Policy, error) {
	p := Policy{Driver: driver, DenyUsers: DefaultUserDenylist, DenyGroups: DefaultGroupDenylist}
	checked := DefaultCheckedDrivers
	if v, ok := opts[OptionCheckedDrivers]; ok {
		checked = splitList(v)
	}
	for _, d := range checked {
		p.Checked = p.Checked || d == driver
	}
	if v, ok := opts[OptionUserDenylist]; ok {
		p.DenyUsers = splitList(v)
	}
	if v, ok := opts[OptionGroupDenylist]; ok {
		p.DenyGroups = splitList(v)
	}
	for _, list := range [][]string{p.DenyUsers, p.DenyGroups} {
		for _, e := range list {
			if err := checkPart("entry", e); err != nil {
				return Policy{}, fmt.Errorf("client option denylist: %w", err)
			}
		}
	}
	var err error
	if v := opts[DriverOption(driver, DeniedHostUIDs)]; v != "" {
		if p.DeniedUIDs, err = ParseRanges(v); err != nil {
			return Policy{}, fmt.Errorf("plugin %q option %s: %w", driver, DeniedHostUIDs, err)
		}
	}
	if v := opts[DriverOption(driver, DeniedHostGIDs)]; v != "" {
		if p.DeniedGIDs, err = ParseRanges(v); err != nil {
			return Policy{}, fmt.Errorf("plugin %q option %s: %w", driver, DeniedHostGIDs, err)
		}
	}
	return p, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Check refuses an identity the policy denies. spec is what the job said
// (for the message); src resolves the denylists' names (the same data the
// identity was resolved against). "root" always means id 0, even where the
// data has no such entry.
func (p *Policy) Check(spec string, id *Identity, src Source) error {
	shown := spec
	if shown == "" {
		shown = "(default)"
	}
	refuse := func(what, option string) error {
		return fmt.Errorf("task user %q runs as %s: %s is denied by the client's %s", shown, id, what, option)
	}
	if inRanges(p.DeniedUIDs, id.UID) {
		return refuse("uid "+strconv.FormatUint(uint64(id.UID), 10), "plugin \""+p.Driver+"\" option "+DeniedHostUIDs)
	}
	for _, g := range id.AllGIDs() {
		if inRanges(p.DeniedGIDs, g) {
			return refuse("gid "+strconv.FormatUint(uint64(g), 10), "plugin \""+p.Driver+"\" option "+DeniedHostGIDs)
		}
	}
	if !p.Checked {
		return nil
	}
	for _, e := range p.DenyUsers {
		if e == id.Name || matchesID(e, id.UID, src, lookupUID) {
			return refuse("uid "+strconv.FormatUint(uint64(id.UID), 10), OptionUserDenylist)
		}
	}
	for _, g := range id.AllGIDs() {
		for _, e := range p.DenyGroups {
			if matchesID(e, g, src, lookupGID) {
				return refuse("gid "+strconv.FormatUint(uint64(g), 10), OptionGroupDenylist)
			}
		}
	}
	return nil
}

// matchesID reports whether a denylist entry (a name or an id) means id.
func matchesID(entry string, id uint32, src Source, lookup func(Source, string) (uint32, bool)) bool {
	if n, numeric, err := ParseID(entry); numeric {
		return err == nil && n == id
	}
	if entry == "root" && id == 0 {
		return true
	}
	n, ok := lookup(src, entry)
	return ok && n == id
}

func lookupUID(src Source, name string) (uint32, bool) {
	if src.Passwd == nil {
		return 0, false
	}
	us, err := user.ParsePasswdFilter(bytes.NewReader(src.Passwd), func(u user.User) bool { return u.Name == name })
	if err != nil || len(us) == 0 || us[0].Uid < 0 || us[0].Uid > maxID {
		return 0, false
	}
	return uint32(us[0].Uid), true
}

func lookupGID(src Source, name string) (uint32, bool) {
	if src.Group == nil {
		return 0, false
	}
	gs, err := user.ParseGroupFilter(bytes.NewReader(src.Group), func(g user.Group) bool { return g.Name == name })
	if err != nil || len(gs) == 0 || gs[0].Gid < 0 || gs[0].Gid > maxID {
		return 0, false
	}
	return uint32(gs[0].Gid), true
}
