// Package identity resolves a task's `user` into the uid, gid and
// supplementary groups it will actually run with, and checks that identity
// against the operator's policy. Drivers resolve once, check the result,
// and run exactly that numeric identity, so what was checked is what runs:
// "4294967296" cannot pass a check as a large number and then wrap to uid
// 0, and "65534:0" cannot hide gid 0 behind an allowed user.
//
// Resolution follows runc's rules (github.com/moby/sys/user, which Docker
// uses inside containers): "name", "uid", "name:group", "uid:gid",
// "name:gid" and "uid:group"; a name must exist in the passwd (or group)
// file; a numeric uid or gid not listed there is used as is, with the
// defaults for what it does not say (a uid alone gets the default gid:
// 0, as in Docker, unless the driver's default says otherwise);
// supplementary groups come from the group file only in the implicit form
// (no group given). Numeric ids must be decimal digits in [0, 2^31-1].
package identity

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
)

// Identity is who a task runs as.
type Identity struct {
	// Name is the passwd name the uid matched ("" when none did).
	Name string
	UID  uint32
	GID  uint32
	// Groups are the supplementary groups.
	Groups []uint32
}

// UserSpec renders the identity as an explicit "uid:gid", the form that
// makes a container runtime use exactly these ids.
func (id *Identity) UserSpec() string {
	return strconv.FormatUint(uint64(id.UID), 10) + ":" + strconv.FormatUint(uint64(id.GID), 10)
}

// AllGIDs returns the primary gid followed by the supplementary groups.
func (id *Identity) AllGIDs() []uint32 {
	return append([]uint32{id.GID}, id.Groups...)
}

func (id *Identity) String() string {
	s := "uid " + strconv.FormatUint(uint64(id.UID), 10)
	if id.Name != "" {
		s += " (" + id.Name + ")"
	}
	s += ", gid " + strconv.FormatUint(uint64(id.GID), 10)
	if len(id.Groups) > 0 {
		gs := make([]string, len(id.Groups))
		for i, g := range id.Groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		s += ", groups " + strings.Join(gs, ",")
	}
	return s
}

// maxFileBytes bounds what is read of a passwd or group file: an image's
// files are as untrusted as the image.
const maxFileBytes = 4 << 20

// Source is the passwd and group data names are resolved against: the
// host's files for processes, the image's for containers. A nil field means
// the file does not exist (only numeric ids resolve then).
type Source struct {
	Passwd []byte
	Group  []byte
}

// HostSource reads the host's /etc/passwd and /etc/group.
func HostSource() (Source, error) {
	return FileSource("/etc/passwd", "/etc/group")
}

// FileSource reads a passwd and a group file; a missing file is nil.
func FileSource(passwdPath, groupPath string) (Source, error) {
	var src Source
	var err error
	if src.Passwd, err = readFile(passwdPath); err != nil {
		return Source{}, err
	}
	if src.Group, err = readFile(groupPath); err != nil {
		return Source{}, err
	}
	return src, nil
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	return ReadLimited(f, p)
}

// ReadLimited reads a passwd or group file, refusing one over 4 MiB.
func ReadLimited(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, maxFileBytes)
	}
	return b, nil
}

func (s Source) passwd() io.Reader {
	if s.Passwd == nil {
		return nil
	}
	return bytes.NewReader(s.Passwd)
}

func (s Source) group() io.Reader {
	if s.Group == nil {
		return nil
	}
	return bytes.NewReader(s.Group)
}

// maxID is the largest uid or gid accepted, as runc's.
const maxID = 1<<31 - 1

// ParseID parses a numeric uid or gid strictly: decimal digits only, no
// sign, no spaces, at most 2^31-1. ok is false when s is not all digits (so
// it is a name).
func ParseID(s string) (id uint32, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxID {
		return 0, true, fmt.Errorf("id %q is out of range (0 to %d)", s, maxID)
	}
	return uint32(n), true, nil
}

// checkPart validates one side of a user spec: a numeric id in range, or
// a name without separators, whitespace or control characters.
func checkPart(what, s string) error {
	if _, numeric, err := ParseID(s); numeric {
		if err != nil {
			return fmt.Errorf("%s %w", what, err)
		}
		return nil
	}
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return fmt.Errorf("%s %q is neither a name nor an id in range", what, s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == ':' || r == '/' || r == ',' {
			return fmt.Errorf("%s %q contains %q", what, s, r)
		}
	}
	return nil
}

// Validate checks the syntax of a task's `user`: "user" or "user:group",
// each part a name or an id in range. The empty string is valid (the
// driver's default).
func Validate(spec string) error {
	if spec == "" {
		return nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	if err := checkPart("user", u); err != nil {
		return fmt.Errorf("invalid user %q: %w", spec, err)
	}
	if hasGroup {
		if err := checkPart("group", g); err != nil {
			return fmt.Errorf("invalid user %q: %w", spec, err)
		}
	}
	return nil
}

// GIDSameAsUID as Resolve's defGID gives a numeric uid not in passwd the
// same number as its gid (orch's rule for host processes; Docker's is 0).
const GIDSameAsUID = ^uint32(0)

// Resolve turns spec into the identity that will run, against src. An
// empty spec resolves def (a name or "uid[:gid]", e.g. "nobody" for exec;
// "" for Docker's image default of uid 0). defGID is the gid a numeric uid
// not in passwd gets when spec names no group (or GIDSameAsUID).
func Resolve(spec, def string, defGID uint32, src Source) (*Identity, error) {
	if spec == "" {
		spec = def
	}
	if err := Validate(spec); err != nil {
		return nil, err
	}
	base := defGID
	if defGID == GIDSameAsUID {
		base = 0
	}
	eu, err := user.GetExecUser(spec, &user.ExecUser{Gid: int(base)}, src.passwd(), src.group())
	if err != nil {
		return nil, fmt.Errorf("resolving user %q: %w", spec, err)
	}
	if eu.Uid < 0 || eu.Uid > maxID || eu.Gid < 0 || eu.Gid > maxID {
		return nil, fmt.Errorf("resolving user %q: id out of range", spec)
	}
	id := &Identity{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	id.Name = nameOf(src, id.UID)
	if defGID == GIDSameAsUID && id.Name == "" && !strings.Contains(spec, ":") {
		id.GID = id.UID
	}
	seen := map[uint32]bool{id.GID: true}
	for _, g := range eu.Sgids {
		if g < 0 || g > maxID || seen[uint32(g)] {
			continue
		}
		seen[uint32(g)] = true
		id.Groups = append(id.Groups, uint32(g))
	}
	sort.Slice(id.Groups, func(i, j int) bool { return id.Groups[i] < id.Groups[j] })
	return id, nil
}

// nameOf returns the first passwd name with uid, "" if none.
func nameOf(src Source, uid uint32) string {
	if src.Passwd == nil {
		return ""
	}
	users, err := user.ParsePasswdFilter(src.passwd(), func(u user.User) bool { return u.Uid == int(uid) })
	if err != nil || len(users) == 0 {
		return ""
	}
	return users[0].Name
}
