package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// StreamFrame is one frame of a log stream. A frame with no fields is a
// heartbeat; the agent sends one when a followed stream has caught up.
type StreamFrame struct {
	Data      []byte `json:"Data,omitempty"`
	File      string `json:"File,omitempty"`
	Offset    int64  `json:"Offset,omitempty"`
	FileEvent string `json:"FileEvent,omitempty"`
}

// IsHeartbeat reports whether the frame carries nothing.
func (f *StreamFrame) IsHeartbeat() bool {
	return len(f.Data) == 0 && f.File == "" && f.Offset == 0 && f.FileEvent == ""
}

// AllocFS is the allocation file system endpoints.
type AllocFS struct{ c *Client }

// AllocFS returns the allocation file system endpoints.
func (c *Client) AllocFS() *AllocFS { return &AllocFS{c: c} }

// LogOptions selects a log stream.
type LogOptions struct {
	Task string
	// Type is "stdout" or "stderr".
	Type string
	// Origin is "start" or "end"; Offset counts bytes from it.
	Origin string
	Offset int64
	Follow bool
}

// FrameStream decodes a log stream frame by frame.
type FrameStream struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next returns the next frame, heartbeats included; io.EOF at the end.
func (s *FrameStream) Next() (*StreamFrame, error) {
	var f StreamFrame
	if err := s.dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("decoding log frame: %w", err)
	}
	return &f, nil
}

// Close ends the stream.
func (s *FrameStream) Close() error { return s.body.Close() }

// LogFrames opens a task's log as a stream of frames. The agent asked
// routes the request to the node running the allocation.
func (a *AllocFS) LogFrames(ctx context.Context, allocID string, o LogOptions) (*FrameStream, error) {
	if o.Origin == "" {
		o.Origin = "start"
	}
	if o.Type == "" {
		o.Type = "stdout"
	}
	q := &QueryOptions{Params: map[string]string{
		"task": o.Task, "type": o.Type, "origin": o.Origin,
		"offset": strconv.FormatInt(o.Offset, 10), "follow": strconv.FormatBool(o.Follow),
	}}
	resp, err := a.c.Raw(ctx, http.MethodGet, "/v1/client/fs/logs/"+url.PathEscape(allocID), q, nil)
	if err != nil {
		return nil, err
	}
	return &FrameStream{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// Logs opens a task's log and returns a reader of its decoded bytes.
func (a *AllocFS) Logs(ctx context.Context, allocID, task, logType, origin string, offset int64, follow bool) (io.ReadCloser, error) {
	fs, err := a.LogFrames(ctx, allocID, LogOptions{Task: task, Type: logType, Origin: origin, Offset: offset, Follow: follow})
	if err != nil {
		return nil, err
	}
	return &frameReader{fs: fs}, nil
}

// frameReader turns frames back into the byte stream they carry.
type frameReader struct {
	fs  *FrameStream
	buf []byte
}

func (r *frameReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		f, err := r.fs.Next()
		if err != nil {
			return 0, err
		}
		r.buf = f.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *frameReader) Close() error { return r.fs.Close() }
