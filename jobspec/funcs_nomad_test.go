package jobspec

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Every function Nomad's jobspec offers evaluates as Nomad documents it.
func TestNomadFunctions(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deep/c.txt", "sub/d.conf"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("hi"), 0o644)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte(pemKey), 0o600)

	cases := map[string]string{
		`uuidv5("dns", "example.com")`:                        "cfbff0d1-9375-5685-968c-48ce8b15ae17",
		`uuidv5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "x")`: "",
		`strlen(uuidv4())`:                                    "36",
		`basename("/a/b/c.txt")`:                              "c.txt",
		`dirname("/a/b/c.txt")`:                               "/a/b",
		`abspath("a.txt")`:                                    filepath.Join(dir, "a.txt"),
		`pathexpand("/x/y")`:                                  "/x/y",
		`filebase64("a.txt")`:                                 base64.StdEncoding.EncodeToString([]byte("hi")),
		`join(",", fileset(".", "**/*.txt"))`:                 "a.txt,sub/b.txt,sub/deep/c.txt",
		`join(",", fileset("sub", "*.conf"))`:                 "d.conf",
		`cidrhost("10.12.112.0/20", 16)`:                      "10.12.112.16",
		`cidrhost("10.12.112.0/20", 268)`:                     "10.12.113.12",
		`cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)`:       "fd00:fd12:3456:7890::22",
		`cidrnetmask("172.16.0.0/12")`:                        "255.240.0.0",
		`cidrsubnet("172.16.0.0/12", 4, 2)`:                   "172.18.0.0/16",
		`cidrsubnet("10.1.2.0/24", 4, 15)`:                    "10.1.2.240/28",
		`join(" ", cidrsubnets("10.1.0.0/16", 4, 4, 8, 4))`:   "10.1.0.0/20 10.1.16.0/20 10.1.32.0/24 10.1.48.0/20",
		`index(["a", "b", "c"], "b")`:                         "1",
		`convert(5, string)`:                                  "5",
		`yamlencode({a = 1})`:                                 "\"a\": 1\n",
		`tostring(yamldecode("x: [1, 2]\n").x[1])`:            "2",
		`rsadecrypt("` + base64.StdEncoding.EncodeToString(ct) + `", file("key.pem"))`: "s3cret",
	}
	for expr, want := range cases {
		src := "job \"f\" {\n  meta {\n    v = " + expr + "\n  }\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n"
		job, err := Parse(ParseConfig{Path: filepath.Join(dir, "job.hcl"), Body: []byte(src), AllowFS: true})
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		got := job.Meta["v"]
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	// bcrypt output verifies against its input.
	src := "job \"f\" {\n  meta {\n    v = bcrypt(\"pw\", 6)\n  }\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n"
	job, err := Parse(ParseConfig{Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(job.Meta["v"]), []byte("pw")); err != nil || !strings.HasPrefix(job.Meta["v"], "$2a$06$") {
		t.Fatalf("bcrypt = %q: %v", job.Meta["v"], err)
	}
	// Filesystem functions stay off for jobs that arrive over the network.
	for _, fn := range []string{`abspath("a")`, `fileset(".", "*")`, `filebase64("a.txt")`, `pathexpand("~/x")`} {
		src := "job \"f\" {\n  meta {\n    v = " + fn + "\n  }\n}\n"
		if _, err := Parse(ParseConfig{Body: []byte(src)}); err == nil || !strings.Contains(err.Error(), "filesystem functions are disabled") {
			t.Errorf("%s without AllowFS: %v", fn, err)
		}
	}
}

// Functions whose output can dwarf their input are bounded: a job file
// arriving over the network must not make the server allocate without end.
func TestFunctionBounds(t *testing.T) {
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	for expr, want := range map[string]string{
		`length(range(1000000000))`:                                          "range would produce more than 100000 elements",
		`length(range(0, 5000000, 2))`:                                       "range would produce more than 100000 elements",
		`length(setproduct(range(1000), range(1000)))`:                       "setproduct would produce more than 100000 combinations",
		`format("%999999999d", 1)`:                                           "format width or precision larger than 10000",
		`bcrypt("x", 31)`:                                                    "bcrypt cost 31 is more than 14",
		`length(yamldecode("` + strings.ReplaceAll(bomb, "\n", `\n`) + `"))`: "expands to more than 100000 values",
	} {
		src := "job \"f\" {\n  meta {\n    v = " + expr + "\n  }\n}\n"
		_, err := Parse(ParseConfig{Body: []byte(src)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", expr, want, err)
		}
	}
	// Ordinary uses stay as they were.
	src := "job \"f\" {\n  meta {\n    a = tostring(length(range(100)))\n    b = format(\"%05d\", 42)\n    c = tostring(length(yamldecode(\"p: &p [1,2]\\nq: *p\\n\").q))\n  }\n}\n"
	job, err := Parse(ParseConfig{Body: []byte(src), skipFieldCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if job.Meta["a"] != "100" || job.Meta["b"] != "00042" || job.Meta["c"] != "2" {
		t.Fatalf("meta %v", job.Meta)
	}
}
