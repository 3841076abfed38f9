package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// fsRoutes are Nomad's allocation file system endpoints. Every file is
// reached through safefs from the allocation's root: no name may leave it,
// no link is followed, only single-link regular files are read, and files
// in a task's secrets/ are never read (Nomad refuses them too).
// They need read-fs in the allocation's namespace, checked once the
// allocation is known.
func (s *Server) fsRoutes(rt *router) {
	need := nsObject(acl.NamespaceCapabilityReadFS)
	rt.handle("GET /v1/client/fs/ls/{alloc}", need, s.fsHandler(s.fsList))
	rt.handle("GET /v1/client/fs/stat/{alloc}", need, s.fsHandler(s.fsStat))
	rt.handle("GET /v1/client/fs/cat/{alloc}", need, s.fsHandler(s.fsCat))
	rt.handle("GET /v1/client/fs/readat/{alloc}", need, s.fsHandler(s.fsReadAt))
	rt.handle("GET /v1/client/fs/stream/{alloc}", need, s.fsHandler(s.fsStream))
}

// fsHandler routes a request to the node hosting the allocation and calls
// h there with the allocation's root and the requested path (relative to
// it; "" is the root).
func (s *Server) fsHandler(h func(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		allocID := r.PathValue("alloc")
		name, err := fsPath(r.URL.Query().Get("path"))
		if err != nil {
			writeError(w, err)
			return
		}
		s.routeToAlloc(w, r, allocID, "", acl.NamespaceCapabilityReadFS, func(dir string) {
			root, err := safefs.OpenRoot(dir)
			if err != nil {
				writeError(w, codedErr(http.StatusNotFound, "Allocation %q has no directory on this node", allocID))
				return
			}
			defer root.Close()
			h(w, r, root, name)
		})
	}
}

// fsPath turns the path parameter ("/", "/alloc/logs", "alloc/logs") into
// a name relative to the allocation's root.
func fsPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", codedErr(http.StatusBadRequest, "invalid path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", codedErr(http.StatusBadRequest, "path %q escapes the allocation directory", p)
		}
	}
	name := path.Clean("/" + p)[1:]
	return name, nil
}

// fsError maps a safefs or file system error to Nomad's statuses.
func fsError(name string, err error) error {
	display := "/" + name
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return codedErr(http.StatusNotFound, "file %s does not exist", display)
	case errors.Is(err, safefs.ErrEscape):
		return codedErr(http.StatusBadRequest, "path %s escapes the allocation directory", display)
	case errors.Is(err, safefs.ErrSymlink):
		return codedErr(http.StatusBadRequest, "path %s contains a symbolic link, which is not followed", display)
	case errors.Is(err, safefs.ErrNotRegular), errors.Is(err, safefs.ErrHardLink):
		return codedErr(http.StatusBadRequest, "file %s cannot be read: %v", display, unwrapPath(err))
	case errors.Is(err, errSecret):
		return codedErr(http.StatusForbidden, "Reading secret file prohibited: %s", display)
	}
	return fmt.Errorf("file %s: %w", display, unwrapPath(err))
}

// unwrapPath drops the host path an *os.PathError carries: clients see the
// allocation-relative name only.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var errSecret = errors.New("secret file")

// checkReadable refuses reading inside a task's secrets/ directory (the
// second component of the name: <task>/secrets/...).
func checkReadable(name string) error {
	parts := strings.Split(name, "/")
	if len(parts) >= 2 && parts[1] == "secrets" && parts[0] != "alloc" {
		return errSecret
	}
	return nil
}

func fileInfo(fi os.FileInfo) *structs.AllocFileInfo {
	return &structs.AllocFileInfo{Name: fi.Name(), IsDir: fi.IsDir(), Size: fi.Size(),
		FileMode: fi.Mode().String(), ModTime: fi.ModTime()}
}

func (s *Server) fsList(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string) {
	ents, err := root.ReadDir(name)
	if err != nil {
		if fi, serr := root.Lstat(name); serr == nil && !fi.IsDir() {
			writeError(w, codedErr(http.StatusBadRequest, "path /%s is not a directory", name))
			return
		}
		writeError(w, fsError(name, err))
		return
	}
	out := make([]*structs.AllocFileInfo, 0, len(ents))
	for _, e := range ents {
		out = append(out, fileInfo(e))
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) fsStat(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string) {
	fi, err := root.Lstat(name)
	if err != nil {
		writeError(w, fsError(name, err))
		return
	}
	info := fileInfo(fi)
	if name == "" {
		info.Name = "/"
	}
	if fi.Mode().IsRegular() && checkReadable(name) == nil {
		info.ContentType = detectContentType(root, name)
	}
	writeJSON(w, r, http.StatusOK, info)
}

// detectContentType sniffs the file's first 512 bytes, as Nomad does; ""
// when it cannot be read safely.
func detectContentType(root *safefs.Root, name string) string {
	f, err := root.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := io.ReadFull(f, buf)
	return http.DetectContentType(buf[:n])
}

// openReadable opens a file the API may serve.
func openReadable(root *safefs.Root, name string) (*os.File, error) {
	if err := checkReadable(name); err != nil {
		return nil, fsError(name, err)
	}
	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return nil, codedErr(http.StatusBadRequest, "path /%s is a directory", name)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, fsError(name, err)
	}
	return f, nil
}

func (s *Server) fsCat(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string) {
	f, err := openReadable(root, name)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f) // the client hung up or the file shrank
}

func (s *Server) fsReadAt(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string) {
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		writeError(w, err)
		return
	}
	if offset < 0 {
		writeError(w, codedErr(http.StatusBadRequest, "offset must be non-negative"))
		return
	}
	f, err := openReadable(root, name)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	var rd io.Reader = io.NewSectionReader(f, offset, 1<<62)
	if limit > 0 {
		rd = io.LimitReader(rd, limit)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rd)
}

// queryInt parses an integer query parameter; absent is def.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, codedErr(http.StatusBadRequest, "Invalid value for %q: %q", name, v)
	}
	return n, nil
}

func (s *Server) fsStream(w http.ResponseWriter, r *http.Request, root *safefs.Root, name string) {
	q := r.URL.Query()
	fromEnd := false
	switch q.Get("origin") {
	case "", "start":
	case "end":
		fromEnd = true
	default:
		writeError(w, codedErr(http.StatusBadRequest, `origin must be "start" or "end"`))
		return
	}
	offset, err := queryInt(r, "offset", 0)
	if err == nil && offset < 0 {
		err = codedErr(http.StatusBadRequest, "offset must be non-negative")
	}
	var follow, plain bool
	if err == nil {
		follow, err = queryBool(r, "follow", true)
	}
	if err == nil {
		plain, err = queryBool(r, "plain", false)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := openReadable(root, name)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	if plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	fs := &fileStreamer{f: f, name: name, follow: follow, poll: logPollInterval,
		fw: newFrameWriter(w, func() { _ = http.NewResponseController(w).Flush() }, plain)}
	if err := fs.stream(r.Context(), fromEnd, offset); err != nil && r.Context().Err() == nil {
		s.log.Warn("streaming file failed", "alloc", r.PathValue("alloc"), "path", name, "error", err)
	}
}

// fileStreamer sends one open file as frames, following it when asked:
// growth is sent, a truncation restarts from 0 with a "file truncated"
// event, and a deletion ends the stream with "file deleted".
type fileStreamer struct {
	f      *os.File
	name   string
	follow bool
	poll   time.Duration
	fw     *frameWriter
}

func (fs *fileStreamer) stream(ctx context.Context, fromEnd bool, offset int64) error {
	fi, err := fs.f.Stat()
	if err != nil {
		return err
	}
	pos := min(offset, fi.Size())
	if fromEnd {
		pos = max(fi.Size()-offset, 0)
	}
	buf := make([]byte, logFrameSize)
	lastSend := time.Now()
	for {
		for {
			n, err := fs.f.ReadAt(buf, pos)
			if n > 0 {
				pos += int64(n)
				lastSend = time.Now()
				if werr := fs.fw.send(buf[:n], fs.name, pos); werr != nil {
					return werr
				}
			}
			if err == io.EOF || (err == nil && n == 0) {
				break
			}
			if err != nil {
				return fmt.Errorf("reading file: %w", err)
			}
		}
		if !fs.follow {
			return nil
		}
		fi, err := fs.f.Stat()
		if err != nil {
			return err
		}
		if safefs.Links(fi) == 0 {
			return fs.fw.event(fs.name, "file deleted")
		}
		if fi.Size() < pos {
			pos = 0
			if err := fs.fw.event(fs.name, "file truncated"); err != nil {
				return err
			}
			continue
		}
		if time.Since(lastSend) >= logHeartbeatEvery {
			lastSend = time.Now()
			if err := fs.fw.heartbeat(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(fs.poll):
		}
	}
}
