package testimage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
)

// Registry is a minimal Docker registry (the v2 pull API over plain HTTP
// on loopback, which the daemon allows without TLS) serving one image, the
// busybox root filesystem, under any repository name and tag. Tests use it
// to pull through the real daemon on a machine without a registry.
//
// With User set it authenticates as Docker Hub does: /v2/ answers 401 with
// a Bearer challenge, and its token endpoint hands a token to a client
// presenting exactly User/Password, an anonymous token to a client
// presenting nothing (the image is public), and 401 to a client presenting
// other credentials.
type Registry struct {
	Addr     string // host:port
	User     string
	Password string
	// Pulls counts manifest requests served, by whether they carried
	// credentials.
	AuthedPulls, AnonPulls atomic.Int64

	srv      *http.Server
	ln       net.Listener
	manifest []byte
	blobs    map[string][]byte
}

// StartRegistry serves the image on 127.0.0.1 until Close.
func StartRegistry() (*Registry, error) {
	layerTar, err := rootfs()
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(layerTar); err != nil {
		return nil, fmt.Errorf("registry layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("registry layer: %w", err)
	}
	layer := gz.Bytes()
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layerTar)}},
	})
	if err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json",
			"size": len(config), "digest": digest(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
			"size": len(layer), "digest": digest(layer)}},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry listen: %w", err)
	}
	r := &Registry{Addr: ln.Addr().String(), ln: ln, manifest: manifest,
		blobs: map[string][]byte{digest(config): config, digest(layer): layer}}
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() error { return r.srv.Close() }

func digest(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.User != "" {
		if req.URL.Path == "/token" {
			user, pass, authed := req.BasicAuth()
			if authed && (user != r.User || pass != r.Password) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`)
				return
			}
			token := "anonymous"
			if authed {
				token = "user"
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q,"access_token":%q}`, token, token)
			return
		}
		tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if tok != "anonymous" && tok != "user" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="orch-test"`, r.Addr))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.Contains(req.URL.Path, "/manifests/") {
			if tok == "user" {
				r.AuthedPulls.Add(1)
			} else {
				r.AnonPulls.Add(1)
			}
		}
	} else if strings.Contains(req.URL.Path, "/manifests/") {
		r.AnonPulls.Add(1)
	}
	path := req.URL.Path
	switch {
	case path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(path, "/manifests/"):
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Docker-Content-Digest", digest(r.manifest))
		w.Header().Set("Content-Length", strconv.Itoa(len(r.manifest)))
		if req.Method != http.MethodHead {
			_, _ = w.Write(r.manifest)
		}
	case strings.Contains(path, "/blobs/"):
		b, ok := r.blobs[path[strings.LastIndex(path, "/")+1:]]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Docker-Content-Digest", digest(b))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if req.Method != http.MethodHead {
			_, _ = w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}
