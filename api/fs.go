package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/structs"
)

// The allocation file system endpoints; paths are relative to the
// allocation's directory ("/" is its root). The agent asked routes each
// request to the node running the allocation.

func fsQuery(path string, params map[string]string) *QueryOptions {
	q := &QueryOptions{Params: map[string]string{"path": path}}
	for k, v := range params {
		q.Params[k] = v
	}
	return q
}

// List lists a directory.
func (a *AllocFS) List(ctx context.Context, allocID, path string) ([]*structs.AllocFileInfo, error) {
	var out []*structs.AllocFileInfo
	if _, err := a.c.Query(ctx, "/v1/client/fs/ls/"+url.PathEscape(allocID), fsQuery(path, nil), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Stat describes one file.
func (a *AllocFS) Stat(ctx context.Context, allocID, path string) (*structs.AllocFileInfo, error) {
	var out structs.AllocFileInfo
	if _, err := a.c.Query(ctx, "/v1/client/fs/stat/"+url.PathEscape(allocID), fsQuery(path, nil), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cat returns a file's contents.
func (a *AllocFS) Cat(ctx context.Context, allocID, path string) (io.ReadCloser, error) {
	resp, err := a.c.Raw(ctx, http.MethodGet, "/v1/client/fs/cat/"+url.PathEscape(allocID), fsQuery(path, nil), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ReadAt returns up to limit bytes (all with limit <= 0) from offset.
func (a *AllocFS) ReadAt(ctx context.Context, allocID, path string, offset, limit int64) (io.ReadCloser, error) {
	q := fsQuery(path, map[string]string{"offset": strconv.FormatInt(offset, 10), "limit": strconv.FormatInt(limit, 10)})
	resp, err := a.c.Raw(ctx, http.MethodGet, "/v1/client/fs/readat/"+url.PathEscape(allocID), q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Stream opens a file as a stream of frames from offset bytes after the
// start or before the end ("start", "end"); with follow it keeps sending
// what is appended until ctx ends or the file is deleted.
func (a *AllocFS) Stream(ctx context.Context, allocID, path, origin string, offset int64, follow bool) (*FrameStream, error) {
	q := fsQuery(path, map[string]string{"origin": origin, "offset": strconv.FormatInt(offset, 10),
		"follow": strconv.FormatBool(follow)})
	resp, err := a.c.Raw(ctx, http.MethodGet, "/v1/client/fs/stream/"+url.PathEscape(allocID), q, nil)
	if err != nil {
		return nil, err
	}
	return &FrameStream{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}
