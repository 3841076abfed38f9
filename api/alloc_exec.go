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
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/orch-project/orch/structs"
)

// ExecOptions describe a command to run in a task with Allocations.Exec.
type ExecOptions struct {
	Task    string
	Command []string
	// TTY runs the command on a terminal; Resize then carries its sizes.
	TTY    bool
	Resize <-chan structs.TerminalSize
	// Stdin (nil: none) feeds the command; Stdout and Stderr receive its
	// output (on a TTY everything arrives on Stdout).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// execHeartbeat is how often an idle session tells the agent it is alive.
const execHeartbeat = 10 * time.Second

// Exec runs a command inside a running task over the exec websocket
// (Nomad's frames) and returns its exit code.
func (a *Allocations) Exec(ctx context.Context, allocID string, o *ExecOptions, q *QueryOptions) (int, error) {
	cmd, err := json.Marshal(o.Command)
	if err != nil {
		return 0, err
	}
	q = withParam(withParam(withParam(q, "task", o.Task), "command", string(cmd)), "tty", strconv.FormatBool(o.TTY))
	return a.c.execSession(ctx, "/v1/client/allocation/"+url.PathEscape(allocID)+"/exec", o, q)
}

// ActionOptions name a task's action for Jobs.Action; the rest of
// ExecOptions (Task aside; Command is the action's) says how it runs.
type ActionOptions struct {
	AllocID, Group, Action string
	ExecOptions
}

// Action runs a task's predefined action (Nomad's GET /v1/job/<id>/action,
// the exec websocket with the command taken from the job) and returns its
// exit code.
func (j *Jobs) Action(ctx context.Context, jobID string, o *ActionOptions, q *QueryOptions) (int, error) {
	q = withParam(withParam(withParam(q, "allocID", o.AllocID), "group", o.Group), "action", o.Action)
	q = withParam(withParam(q, "task", o.Task), "tty", strconv.FormatBool(o.TTY))
	return j.c.execSession(ctx, "/v1/job/"+url.PathEscape(jobID)+"/action", &o.ExecOptions, q)
}

// execSession opens an exec websocket at path and runs the session.
func (c *Client) execSession(ctx context.Context, path string, o *ExecOptions, q *QueryOptions) (int, error) {
	u, err := url.Parse(c.url(path, q))
	if err != nil {
		return 0, err
	}
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	h := http.Header{}
	token := c.token
	if q != nil && q.AuthToken != "" {
		token = q.AuthToken
	}
	if token != "" {
		h.Set("X-Nomad-Token", token)
	}
	d := websocket.Dialer{TLSClientConfig: c.tls, HandshakeTimeout: 30 * time.Second, Proxy: nil}
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return 0, &StatusError{Code: resp.StatusCode, Body: string(b)}
		}
		return 0, fmt.Errorf("exec: %w", err)
	}
	defer conn.Close()
	s := &execClient{conn: conn}
	return s.run(ctx, o)
}

type execClient struct {
	conn *websocket.Conn
	wmu  sync.Mutex
}

func (s *execClient) send(in *structs.ExecStreamingInput) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteJSON(in)
}

func (s *execClient) run(ctx context.Context, o *ExecOptions) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = s.conn.Close()
	}()
	go s.pump(ctx, o)
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		var out structs.ExecStreamingOutput
		if err := s.conn.ReadJSON(&out); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Text != "" {
				return 0, errors.New(ce.Text)
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("exec: connection closed before the command's exit code: %w", err)
		}
		switch {
		case out.Exited && out.Result != nil:
			return out.Result.ExitCode, nil
		case out.Stdout != nil && len(out.Stdout.Data) > 0:
			if _, err := stdout.Write(out.Stdout.Data); err != nil {
				return 0, err
			}
		case out.Stderr != nil && len(out.Stderr.Data) > 0:
			if _, err := stderr.Write(out.Stderr.Data); err != nil {
				return 0, err
			}
		}
	}
}

// pump sends input, terminal sizes and heartbeats until ctx ends.
func (s *execClient) pump(ctx context.Context, o *ExecOptions) {
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 {
					if s.send(&structs.ExecStreamingInput{Stdin: &structs.ExecStreamingIOOperation{Data: buf[:n]}}) != nil {
						return
					}
				}
				if err != nil {
					if err == io.EOF {
						_ = s.send(&structs.ExecStreamingInput{Stdin: &structs.ExecStreamingIOOperation{Close: true}})
					}
					return
				}
			}
		}()
	}
	t := time.NewTicker(execHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-o.Resize:
			if !ok {
				o.Resize = nil
				continue
			}
			_ = s.send(&structs.ExecStreamingInput{TTYSize: &sz})
		case <-t.C:
			_ = s.send(&structs.ExecStreamingInput{})
		}
	}
}
