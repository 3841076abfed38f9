package jobspec

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkDirName rejects names that cannot safely become one path element.
// The client names each task's directory, log files and output FIFOs after
// the task, so a name such as "../../x" would place them outside the
// allocation's directory. Nomad documents that task names may not contain
// slashes or NUL; orch is stricter and also refuses "." and "..", the
// Windows separator and every control character (a newline in a name
// corrupts logs and file listings). Group names get the same rule since
// they show up in paths and log lines too.
func checkDirName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case name == "." || name == "..":
		return errors.New(`must not be "." or ".."`)
	case strings.ContainsAny(name, `/\`):
		return errors.New(`must not contain "/" or "\"`)
	case !utf8.ValidString(name):
		return errors.New("must be valid UTF-8")
	}
	for _, r := range name {
		if r == 0 {
			return errors.New("must not contain NUL characters")
		}
		if unicode.IsControl(r) {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}
