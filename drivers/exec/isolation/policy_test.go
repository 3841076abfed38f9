package isolation

import (
	"strings"
	"testing"
)

func TestCheckCapAdd(t *testing.T) {
	cases := []struct {
		add, allow []string
		err        string
	}{
		{[]string{"net_raw", "CAP_CHOWN", "kill"}, nil, ""},
		{[]string{"SYS_ADMIN"}, nil, "cap_add CAP_SYS_ADMIN not allowed by the client's exec.caps.allowlist"},
		{[]string{"all"}, nil, "cap_add ALL not allowed"},
		{[]string{"sys_ptrace", "net_admin"}, nil, "cap_add CAP_NET_ADMIN, CAP_SYS_PTRACE not allowed"},
		{[]string{"cap_nope"}, nil, `unknown capability "cap_nope"`},
		{[]string{"sys_admin"}, []string{"CAP_SYS_ADMIN"}, ""},
		{[]string{"ALL"}, []string{"CAP_SYS_ADMIN"}, "cap_add ALL not allowed"},
		{[]string{"ALL", "sys_admin"}, []string{"ALL"}, ""},
		{[]string{"chown"}, []string{}, "cap_add CAP_CHOWN not allowed"},
		{nil, []string{}, ""},
	}
	for _, c := range cases {
		err := CheckCapAdd(c.add, c.allow, "exec.caps.allowlist")
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("CheckCapAdd(%v, %v) = %v, want %q", c.add, c.allow, err, c.err)
		}
	}
}

func TestParseCapAllowlist(t *testing.T) {
	got, err := ParseCapAllowlist(" net_admin, CAP_SYS_TIME ,,all")
	if err != nil || strings.Join(got, ",") != "CAP_NET_ADMIN,CAP_SYS_TIME,ALL" {
		t.Fatalf("ParseCapAllowlist = %v, %v", got, err)
	}
	if got, err := ParseCapAllowlist(""); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty allowlist = %#v, %v", got, err)
	}
	if _, err := ParseCapAllowlist("chown,bogus"); err == nil {
		t.Fatal("unknown capability accepted")
	}
}
