package artifacts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"

	cleanhttp "github.com/hashicorp/go-cleanhttp"
	getter "github.com/hashicorp/go-getter/v2"
)

// fetchRequest is one artifact's fetch, as the helper process receives
// it on stdin.
type fetchRequest struct {
	// Source is the go-getter source with the artifact's options in its
	// query (checksum, archive, depth, ref, ...).
	Source string
	// Dst is where go-getter writes: a directory (modes any and dir) or
	// a file (mode file), inside Staging.
	Dst     string
	Mode    string
	Headers map[string]string
	// Insecure skips TLS verification of https sources.
	Insecure bool
	// Pwd resolves relative file sources (the task's directory).
	Pwd    string
	Limits Config

	// Sandbox: the only directory the fetch may write to, and the paths
	// it may read.
	Staging   string
	ReadPaths []string
	Isolate   bool
}

// forced splits go-getter's forced-getter prefix ("git::https://...").
var forced = regexp.MustCompile(`^([A-Za-z0-9]+)::(.+)$`)

// SourceWithOptions puts the artifact's options into the source's query,
// as go-getter reads them (Nomad does the same).
func SourceWithOptions(src string, opts map[string]string) (string, error) {
	if len(opts) == 0 {
		return src, nil
	}
	prefix, rest := "", src
	if m := forced.FindStringSubmatch(src); m != nil {
		prefix, rest = m[1]+"::", m[2]
	}
	u, err := url.Parse(rest)
	if err != nil {
		return "", fmt.Errorf("artifact source %q: %w", src, err)
	}
	q := u.Query()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Set(k, opts[k])
	}
	u.RawQuery = q.Encode()
	return prefix + u.String(), nil
}

// fetch runs go-getter for one request, with the limits and without
// symlinks. It writes only under req.Dst (and go-getter's temporary
// files, which TMPDIR places in the staging directory).
func fetch(ctx context.Context, req *fetchRequest) error {
	l := req.Limits
	hc := cleanhttp.DefaultClient()
	if req.Insecure {
		tr := cleanhttp.DefaultTransport()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the job's `insecure = true`
		hc.Transport = tr
	}
	// go-getter's own MaxBytes truncates a body of unknown length
	// silently; this fails it instead.
	hc.Transport = &limitTransport{inner: hc.Transport, max: l.HTTPMaxBytes}
	header := http.Header{}
	for k, v := range req.Headers {
		header.Set(k, v)
	}
	httpGetter := &getter.HttpGetter{
		Client: hc, Header: header, ReadTimeout: l.HTTPReadTimeout,
		// A server must not redirect the fetch to another source (a file
		// on the host, a git repository) through X-Terraform-Get.
		XTerraformGetDisabled: true,
	}
	client := &getter.Client{
		Getters: []getter.Getter{
			&getter.GitGetter{Timeout: l.GitTimeout, Detectors: []getter.Detector{
				new(getter.GitHubDetector), new(getter.GitDetector), new(getter.BitBucketDetector), new(getter.GitLabDetector),
			}},
			&getter.HgGetter{Timeout: l.HgTimeout},
			httpGetter,
			new(getter.FileGetter),
		},
		Decompressors:   checkedDecompressors(l.DecompressionFileCountLimit, l.DecompressionSizeLimit),
		DisableSymlinks: true,
	}
	mode := getter.ModeAny
	switch req.Mode {
	case "file":
		mode = getter.ModeFile
	case "dir":
		mode = getter.ModeDir
	}
	_, err := client.Get(ctx, &getter.Request{
		Src: req.Source, Dst: req.Dst, Pwd: req.Pwd, GetMode: mode,
		// Copy local files instead of linking to them.
		Copy: true, DisableSymlinks: true, Umask: 0o022,
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("fetching %s: %w", redact(req.Source), err)
		}
		return fmt.Errorf("fetching %s: %s", redact(req.Source), redactErr(err.Error(), req.Source))
	}
	return nil
}

// redact hides a URL's password in messages (task events are readable by
// anyone who can read the job).
func redact(src string) string {
	prefix, rest := "", src
	if m := forced.FindStringSubmatch(src); m != nil {
		prefix, rest = m[1]+"::", m[2]
	}
	u, err := url.Parse(rest)
	if err != nil || u.User == nil {
		return src
	}
	return prefix + u.Redacted()
}

func redactErr(msg, src string) string {
	r := redact(src)
	if r == src {
		return msg
	}
	return regexp.MustCompile(regexp.QuoteMeta(src)).ReplaceAllLiteralString(msg, r)
}

// limitTransport fails a response body that goes past max bytes.
type limitTransport struct {
	inner http.RoundTripper
	max   int64
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil || t.max <= 0 {
		return resp, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("response of %d bytes exceeds http_max_size (%d bytes)", resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errors.New("response exceeds http_max_size")
	}
	return n, err
}
