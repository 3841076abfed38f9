package drivers

import (
	"errors"
	"io"
)

// EOT is what a terminal's input gets at the end of the caller's input:
// the terminal's end-of-file character.
var EOT = []byte{4}

// PumpInput copies an exec's input (ExecRequest.Stdin) to the command until
// the input ends — then, on a TTY, it sends the end-of-file character, and
// otherwise calls closeInput — or until stop closes. It returns at once;
// the copy never holds back the command's end.
func PumpInput(in io.Reader, w io.Writer, closeInput func() error, tty bool, stop <-chan struct{}) {
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					if tty {
						_, _ = w.Write(EOT)
					} else if closeInput != nil {
						_ = closeInput()
					}
				}
				return
			}
		}
	}()
}
