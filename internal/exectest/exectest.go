// Package exectest checks a driver's Execer the same way for every driver:
// input piped to a command, and a command on its own terminal (sized by
// the caller, its input echoed, its exit code returned), as `alloc exec`
// uses them.
package exectest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

// Exec runs one request in the task under test.
type Exec func(ctx context.Context, req *drivers.ExecRequest) (int, error)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CheckStdinAndTTY runs both checks; sh is the task's shell path.
func CheckStdinAndTTY(t *testing.T, sh string, exec Exec) {
	t.Helper()
	CheckStdin(t, sh, exec)
	CheckTTY(t, sh, exec)
}

// CheckStdin pipes two lines into a command that reads them and exits with
// a code of its own.
func CheckStdin(t *testing.T, sh string, exec Exec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb syncBuffer
	code, err := exec(ctx, &drivers.ExecRequest{
		Command: []string{sh, "-c", "read first; echo got:$first; cat; echo err >&2; exit 5"},
		Stdin:   strings.NewReader("hello\nworld\n"), Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 5 {
		t.Fatalf("exec with input: code %d err %v (stdout %q stderr %q)", code, err, out.String(), errb.String())
	}
	if out.String() != "got:hello\nworld\n" || errb.String() != "err\n" {
		t.Fatalf("exec with input: stdout %q stderr %q", out.String(), errb.String())
	}
}

// CheckTTY runs a command on a terminal: it must see a terminal as its
// input, of the size the caller sent, read a line typed into it and exit
// with its own code; the terminal's output carries the echo.
func CheckTTY(t *testing.T, sh string, exec Exec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resize := make(chan drivers.TerminalSize, 1)
	resize <- drivers.TerminalSize{Height: 41, Width: 123}
	inR, inW := io.Pipe()
	var out syncBuffer
	script := `test -t 0 && echo is-a-tty; ` +
		`i=0; while [ $i -lt 50 ]; do s=$(stty size); [ "$s" = "41 123" ] && break; i=$((i+1)); sleep 0.1; done; echo size:$s; ` +
		`read line; echo read:$line; exit 7`
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := exec(ctx, &drivers.ExecRequest{Command: []string{sh, "-c", script}, TTY: true, Resize: resize,
			Stdin: inR, Stdout: &out})
		done <- result{code, err}
	}()
	// Type the line once the command waits for it.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "size:") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_, _ = inW.Write([]byte("typed words\r"))
	r := <-done
	got := out.String()
	if r.err != nil || r.code != 7 {
		t.Fatalf("exec on a terminal: code %d err %v (output %q)", r.code, r.err, got)
	}
	for _, want := range []string{"is-a-tty", "size:41 123", "typed words", "read:typed words"} {
		if !strings.Contains(got, want) {
			t.Fatalf("terminal output lacks %q: %q", want, got)
		}
	}
	inW.Close()
}
