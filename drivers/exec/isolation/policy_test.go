package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckUser(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	must(t, os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n"+
		"nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644))
	cases := []struct {
		user string
		deny []string
		err  string
	}{
		{"", nil, ""},
		{"nobody", nil, ""},
		{"app", nil, ""},
		{"1000:1000", nil, ""},
		{"root", nil, `user "root" is not allowed by the client's user.denylist`},
		{"0", nil, `user "0" is not allowed`},
		{"0:0", nil, `user "0:0" is not allowed`},
		{"0:1000", nil, `user "0:1000" is not allowed`},
		{"toor", nil, `user "toor" is not allowed`},
		{"root", []string{}, ""},
		{"", []string{"nobody"}, `user "nobody" is not allowed`},
		{"app", []string{"root", "app"}, `user "app" is not allowed`},
		{"1000", []string{"app"}, `user "1000" is not allowed`},
		{"ghost", nil, `user "ghost" not found`},
	}
	for _, c := range cases {
		err := CheckUser(passwd, c.user, c.deny, "user.denylist")
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("CheckUser(%q, %v) = %v, want %q", c.user, c.deny, err, c.err)
		}
	}
}

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

func TestParseCapAllowlistAndUsers(t *testing.T) {
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
	if got := ParseUserList(" root, admin ,"); strings.Join(got, ",") != "root,admin" {
		t.Fatalf("ParseUserList = %v", got)
	}
}
