package isolation

import (
	"fmt"
	"sort"
	"strings"
)

// DefaultCapabilities is the bounding set isolated tasks get: the usual
// container default without CAP_NET_RAW.
var DefaultCapabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID",
	"CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// knownCapabilities are the Linux capability names cap_add/cap_drop accept,
// kept sorted for binary search.
var knownCapabilities = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
	"CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
	"CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
}

// normalizeCap turns "net_raw", "NET_RAW" or "cap_net_raw" into "CAP_NET_RAW";
// "all" stays "ALL".
func normalizeCap(c string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(c))
	if u == "ALL" {
		return u, nil
	}
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	i := sort.SearchStrings(knownCapabilities, u)
	if i == len(knownCapabilities) || knownCapabilities[i] != u {
		return "", fmt.Errorf("unknown capability %q", c)
	}
	return u, nil
}

// Capabilities applies cap_drop then cap_add to DefaultCapabilities, the
// order that lets `cap_drop = ["all"], cap_add = ["chown"]` mean "only chown".
func Capabilities(add, drop []string) ([]string, error) {
	set := make(map[string]bool, len(knownCapabilities))
	for _, c := range DefaultCapabilities {
		set[c] = true
	}
	for _, c := range drop {
		n, err := normalizeCap(c)
		if err != nil {
			return nil, fmt.Errorf("cap_drop: %w", err)
		}
		if n == "ALL" {
			clear(set)
			continue
		}
		delete(set, n)
	}
	for _, c := range add {
		n, err := normalizeCap(c)
		if err != nil {
			return nil, fmt.Errorf("cap_add: %w", err)
		}
		if n == "ALL" {
			for _, k := range knownCapabilities {
				set[k] = true
			}
			continue
		}
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// DefaultCapAllowlist bounds cap_add when the operator sets no allowlist:
// Docker's default set, i.e. nothing beyond what an ordinary container
// gets. CAP_NET_RAW is in it although DefaultCapabilities leaves it out:
// a task may ask for it, it just does not get it unasked.
var DefaultCapAllowlist = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",
	"CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// ParseCapAllowlist reads a comma-separated allowlist option; "all" allows
// every capability. An empty string is an empty (non-nil) list: no cap_add.
func ParseCapAllowlist(s string) ([]string, error) {
	out := []string{}
	for _, c := range strings.Split(s, ",") {
		if strings.TrimSpace(c) == "" {
			continue
		}
		n, err := normalizeCap(c)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// CheckCapAdd refuses cap_add entries outside allow (nil: the default
// allowlist). "ALL" in cap_add passes only when allow holds "ALL". option
// names the setting in the error, so the operator knows what to change.
func CheckCapAdd(add, allow []string, option string) error {
	if allow == nil {
		allow = DefaultCapAllowlist
	}
	set := make(map[string]bool, len(allow))
	for _, c := range allow {
		if n, err := normalizeCap(c); err == nil {
			set[n] = true
		}
	}
	if set["ALL"] {
		return nil
	}
	var refused []string
	for _, c := range add {
		n, err := normalizeCap(c)
		if err != nil {
			return fmt.Errorf("cap_add: %w", err)
		}
		if !set[n] {
			refused = append(refused, n)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	sort.Strings(refused)
	return fmt.Errorf("cap_add %s not allowed by the client's %s", strings.Join(refused, ", "), option)
}
