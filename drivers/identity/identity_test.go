package identity

import (
	"strings"
	"testing"
)

var fixture = Source{
	Passwd: []byte(`root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
app:x:1000:1000::/home/app:/bin/sh
wheelie:x:1001:1001::/:/bin/sh
toor:x:0:0::/root:/bin/sh
`),
	Group: []byte(`root:x:0:wheelie
nogroup:x:65534:
app:x:1000:
docker:x:999:app
`),
}

func TestValidateIsStrict(t *testing.T) {
	for _, ok := range []string{"", "nobody", "1000", "0", "65534:0", "app:root", "2147483647", "user.name-1", "u@example.com"} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"4294967296", "4294967295", "2147483648", "-1", "+5", "65534:-1", "65534:4294967296",
		"a b", "a:b:c", ":", "a:", ":0", "a\x00", "a/b", "1,2", "\tx"} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		spec, def string
		defGID    uint32
		want      string
	}{
		{"nobody", "", 0, "uid 65534 (nobody), gid 65534"},
		{"", "nobody", 0, "uid 65534 (nobody), gid 65534"},
		{"", "", 0, "uid 0 (root), gid 0"},
		{"app", "", 0, "uid 1000 (app), gid 1000, groups 999"},
		{"1000", "", 0, "uid 1000 (app), gid 1000, groups 999"},
		{"wheelie", "", 0, "uid 1001 (wheelie), gid 1001, groups 0"},
		{"65534:0", "", 0, "uid 65534 (nobody), gid 0"},
		{"app:root", "", 0, "uid 1000 (app), gid 0"},
		{"app:65534", "", 0, "uid 1000 (app), gid 65534"},
		// A uid the passwd file does not list: Docker gives it gid 0; a
		// driver can choose another default.
		{"5000", "", 0, "uid 5000, gid 0"},
		{"5000", "", 65534, "uid 5000, gid 65534"},
		{"5000", "", GIDSameAsUID, "uid 5000, gid 5000"},
		{"nobody", "", GIDSameAsUID, "uid 65534 (nobody), gid 65534"},
		{"5000:7", "", GIDSameAsUID, "uid 5000, gid 7"},
		{"5000:5000", "", 0, "uid 5000, gid 5000"},
	} {
		id, err := Resolve(tc.spec, tc.def, tc.defGID, fixture)
		if err != nil {
			t.Errorf("Resolve(%q) = %v", tc.spec, err)
			continue
		}
		if id.String() != tc.want {
			t.Errorf("Resolve(%q) = %s, want %s", tc.spec, id, tc.want)
		}
	}
	for _, bad := range []string{"ghost", "app:ghosts", "4294967296", "-1", "0:4294967296"} {
		if id, err := Resolve(bad, "", 0, fixture); err == nil {
			t.Errorf("Resolve(%q) = %s, want an error", bad, id)
		}
	}
	// Without passwd data only numeric ids resolve.
	if _, err := Resolve("nobody", "", 0, Source{}); err == nil {
		t.Error("a name resolved without passwd data")
	}
	if id, err := Resolve("7:8", "", 0, Source{}); err != nil || id.UserSpec() != "7:8" {
		t.Errorf("Resolve(7:8) without data = %v, %v", id, err)
	}
}

func TestPolicyDefaults(t *testing.T) {
	exec, err := PolicyFromOptions("exec", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := PolicyFromOptions("raw_exec", nil)
	for _, tc := range []struct {
		spec   string
		denied string // substring of the refusal, "" for allowed
	}{
		{"nobody", ""},
		{"app", ""},
		{"5000:5000", ""},
		{"root", "uid 0 is denied by the client's user.denylist"},
		{"0", "uid 0 is denied"},
		{"0:65534", "uid 0 is denied"},
		{"toor", "uid 0 is denied"}, // another name for uid 0
		{"65534:0", "gid 0 is denied by the client's group.denylist"},
		{"nobody:root", "gid 0 is denied"},
		{"wheelie", "gid 0 is denied"}, // gid 0 as a supplementary group
		{"5000", "gid 0 is denied"},    // Docker's rule: an unknown uid gets gid 0
	} {
		id, err := Resolve(tc.spec, "nobody", 0, fixture)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tc.spec, err)
		}
		err = exec.Check(tc.spec, id, fixture)
		if tc.denied == "" && err != nil {
			t.Errorf("exec %q refused: %v", tc.spec, err)
		}
		if tc.denied != "" && (err == nil || !strings.Contains(err.Error(), tc.denied)) {
			t.Errorf("exec %q: %v, want %q", tc.spec, err, tc.denied)
		}
		// raw_exec is not among the checked drivers by default.
		if err := raw.Check(tc.spec, id, fixture); err != nil {
			t.Errorf("raw_exec %q refused by default: %v", tc.spec, err)
		}
	}
}

func TestPolicyOptions(t *testing.T) {
	p, err := PolicyFromOptions("raw_exec", map[string]string{
		"raw_exec.denied_host_uids": "0-999, 65534",
		"raw_exec.denied_host_gids": "999",
		OptionCheckedDrivers:        "exec,raw_exec",
		OptionUserDenylist:          "wheelie",
		OptionGroupDenylist:         "nogroup",
	})
	if err != nil {
		t.Fatal(err)
	}
	for spec, denied := range map[string]string{
		"root":       "denied_host_uids",
		"999":        "denied_host_uids",
		"nobody":     "denied_host_uids",
		"app":        "denied_host_gids", // supplementary group docker (999)
		"1000:1000":  "",
		"wheelie":    "user.denylist",
		"1002:65534": "group.denylist",
		"1002:1002":  "",
	} {
		id, err := Resolve(spec, "", 0, fixture)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Check(spec, id, fixture)
		if (denied == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), denied)) {
			t.Errorf("%q: %v, want %q", spec, err, denied)
		}
	}
	for _, bad := range []map[string]string{
		{"exec.denied_host_uids": "10-5"},
		{"exec.denied_host_uids": "4294967296"},
		{"exec.denied_host_gids": "x"},
		{OptionUserDenylist: "a b"},
	} {
		if _, err := PolicyFromOptions("exec", bad); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
}
