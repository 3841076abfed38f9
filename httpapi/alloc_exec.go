package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// alloc exec runs a command inside a task over a websocket in Nomad's
// frame format (structs.ExecStreaming*): the caller sends input and
// terminal sizes, the node sends output and, at the end, the exit code.
// Errors before the command starts are plain HTTP answers; errors after
// the upgrade close the socket with the error as its close text, as
// Nomad's clients expect.

const (
	// execWriteWait bounds one frame's write to a slow caller.
	execWriteWait = 10 * time.Second
	// execReadLimit bounds one incoming frame (Nomad's client sends 2 KiB
	// of input at a time).
	execReadLimit = 1 << 20
	// execInputQueue is how many input frames may wait for the command.
	execInputQueue = 64
)

// execParams is a parsed exec request.
type execParams struct {
	allocID, task string
	command       []string
	tty           bool
}

func parseExecParams(r *http.Request) (*execParams, error) {
	q := r.URL.Query()
	p := &execParams{allocID: r.PathValue("alloc"), task: q.Get("task")}
	if p.task == "" {
		return nil, codedErr(http.StatusBadRequest, "task is not present")
	}
	if err := validTaskName(p.task); err != nil {
		return nil, err
	}
	raw := q.Get("command")
	if raw == "" {
		return nil, codedErr(http.StatusBadRequest, "command is not present")
	}
	if err := json.Unmarshal([]byte(raw), &p.command); err != nil || len(p.command) == 0 || p.command[0] == "" {
		return nil, codedErr(http.StatusBadRequest, "command is not a non-empty JSON array of strings: %q", raw)
	}
	var err error
	if p.tty, err = queryBool(r, "tty", false); err != nil {
		return nil, err
	}
	return p, nil
}

// allocExec is checked by the node that runs the allocation (any other
// agent routes it there), once the caller's capability is: only then are
// the request's parameters judged.
func (s *Server) allocExec(w http.ResponseWriter, r *http.Request) {
	// An exec is a write: a page of another origin may not open one.
	if err := s.cfg.Guard.checkOrigin(r); err != nil {
		writeError(w, err)
		return
	}
	task := r.URL.Query().Get("task")
	s.routeToAlloc(w, r, r.PathValue("alloc"), task, acl.NamespaceCapabilityAllocExec, func(string) { s.serveExec(w, r) })
}

// serveExec runs the command on this node once the caller is authorized.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	p, err := parseExecParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.runExec(w, r, p)
}

// runExec runs an authorized exec request's command on this node over
// the upgraded websocket.
func (s *Server) runExec(w http.ResponseWriter, r *http.Request, p *execParams) {
	ops, err := s.allocOps()
	if err != nil {
		writeError(w, err)
		return
	}
	host, err := ops.ExecRunsOnHost(p.allocID, p.task)
	if err != nil {
		writeError(w, allocOpError(err))
		return
	}
	if host {
		// A task without isolation from the node: its commands run on the
		// host, which takes alloc-node-exec.
		if err := s.authorizeLocalAlloc(r, p.allocID, acl.NamespaceCapabilityAllocNodeExec); err != nil {
			writeError(w, err)
			return
		}
	}
	if !authzOf(r).checked.Load() {
		writeError(w, codedErr(http.StatusInternalServerError, "internal error: authorization was not checked"))
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096,
		// The origin was checked with the other writes' rule above.
		CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(hijacker{w}, r, nil)
	if err != nil {
		return // the upgrader answered the caller
	}
	defer conn.Close()
	sess := &execSession{conn: conn}
	code, err := sess.run(r.Context(), ops, p)
	if err != nil {
		sess.closeWith(websocket.CloseInternalServerErr, err.Error())
		return
	}
	sess.finish(code)
}

// hijacker gives the websocket upgrader the connection under the router's
// wrapped ResponseWriter.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// execSession is one exec's websocket.
type execSession struct {
	conn *websocket.Conn
	wmu  sync.Mutex
}

func (e *execSession) send(v *structs.ExecStreamingOutput) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	_ = e.conn.SetWriteDeadline(time.Now().Add(execWriteWait))
	return e.conn.WriteJSON(v)
}

// run runs the command with the caller's frames as its input and returns
// its exit code. The caller going away kills the command.
func (e *execSession) run(ctx context.Context, ops AllocOpsBackend, p *execParams) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stdinR, stdinW := io.Pipe()
	defer stdinR.Close()
	resize := make(chan drivers.TerminalSize, 1)
	go e.readInput(stdinW, resize, cancel)
	req := &drivers.ExecRequest{
		Command: p.command, TTY: p.tty, Stdin: stdinR, Resize: resize,
		Stdout: streamWriter{e, false}, Stderr: streamWriter{e, true},
	}
	return ops.ExecAlloc(ctx, p.allocID, p.task, req)
}

// readInput turns the caller's frames into the command's input and
// terminal sizes until the socket ends, which cancels the command. Input
// is handed to a writer through a bounded queue, so a command slow to read
// (or not reading at all) holds back neither sizes nor the caller's close
// until that queue is full.
func (e *execSession) readInput(stdin *io.PipeWriter, resize chan drivers.TerminalSize, cancel context.CancelFunc) {
	defer cancel()
	queue := make(chan []byte, execInputQueue)
	defer close(queue)
	go func() {
		for b := range queue {
			if b == nil {
				_ = stdin.Close()
				continue
			}
			_, _ = stdin.Write(b) // fails once the command's input is closed
		}
		_ = stdin.CloseWithError(io.EOF)
	}()
	e.conn.SetReadLimit(execReadLimit)
	for {
		var in structs.ExecStreamingInput
		if err := e.conn.ReadJSON(&in); err != nil {
			return
		}
		if in.TTYSize != nil && in.TTYSize.Height > 0 && in.TTYSize.Width > 0 {
			sz := drivers.TerminalSize{Height: uint16(min(in.TTYSize.Height, 1<<15)), Width: uint16(min(in.TTYSize.Width, 1<<15))}
			select { // only the newest size matters
			case <-resize:
			default:
			}
			resize <- sz
		}
		if in.Stdin == nil {
			continue // a heartbeat
		}
		if len(in.Stdin.Data) > 0 {
			queue <- in.Stdin.Data
		}
		if in.Stdin.Close {
			queue <- nil
		}
	}
}

// finish sends the end of the output and the exit code, then closes.
func (e *execSession) finish(code int) {
	_ = e.send(&structs.ExecStreamingOutput{Stdout: &structs.ExecStreamingIOOperation{Close: true}})
	_ = e.send(&structs.ExecStreamingOutput{Stderr: &structs.ExecStreamingIOOperation{Close: true}})
	_ = e.send(&structs.ExecStreamingOutput{Exited: true, Result: &structs.ExecStreamingExitResult{ExitCode: code}})
	e.closeWith(websocket.CloseNormalClosure, "")
}

// closeWith sends a close frame; its text is what Nomad's client reports
// as the error (cut to the 123 bytes a close frame holds).
func (e *execSession) closeWith(code int, text string) {
	if len(text) > 123 {
		text = text[:123]
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	_ = e.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// streamWriter sends a command's output as frames.
type streamWriter struct {
	e      *execSession
	stderr bool
}

func (w streamWriter) Write(b []byte) (int, error) {
	// The frame is encoded before Write returns: b may be reused.
	op := &structs.ExecStreamingIOOperation{Data: b}
	out := &structs.ExecStreamingOutput{Stdout: op}
	if w.stderr {
		out = &structs.ExecStreamingOutput{Stderr: op}
	}
	if err := w.e.send(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
