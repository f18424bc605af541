package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/peertape/peertape/replay"
)

// Keyboard control of `peertape replay` on a terminal: stdin goes into
// raw mode so single keys arrive at once, unechoed. Raw mode also stops the
// terminal from turning "\n" into "\r\n" and Ctrl-C into SIGINT, so while
// it is on stderr output goes through crlfWriter and Ctrl-C / Ctrl-\ read
// from stdin cancel the replay as SIGINT would. The terminal is restored
// when the replay ends, on SIGINT/SIGTERM (they cancel the context, which
// ends the replay) and on a panic (deferred).

// isTerminal reports whether f is an interactive terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// startKeys puts stdin into raw mode and feeds its keys to ctl. It returns
// the writer stderr output must go through while raw, and the function
// that restores the terminal (idempotent).
func startKeys(cancel func(), ctl *replay.Control, stderr io.Writer) (io.Writer, func(), error) {
	fd := int(os.Stdin.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("raw mode on stdin: %w", err)
	}
	out := &crlfWriter{w: stderr}
	if err := setupLogging(out); err != nil {
		term.Restore(fd, old)
		return nil, nil, err
	}
	go func() {
		if err := replay.ReadKeys(interruptReader{r: os.Stdin, cancel: cancel}, ctl); err != nil {
			slog.Debug("keyboard control stopped", "err", err)
		}
	}()
	slog.Info("keys: " + replay.KeyHelp)
	var once sync.Once
	restore := func() {
		once.Do(func() {
			term.Restore(fd, old)
			setupLogging(stderr)
		})
	}
	return out, restore, nil
}

// crlfWriter writes "\r\n" for every "\n", as the terminal would outside
// raw mode. It is safe for concurrent use (logs and the progress bar).
type crlfWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	c.buf = c.buf[:0]
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.buf = append(c.buf, p...)
			break
		}
		c.buf = append(c.buf, p[:i]...)
		if i == 0 || p[i-1] != '\r' {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, '\n')
		p = p[i+1:]
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return n, nil
}

// interruptReader passes keystrokes on, except Ctrl-C and Ctrl-\, which
// call cancel: in raw mode the terminal no longer turns them into signals.
type interruptReader struct {
	r      io.Reader
	cancel func()
}

func (ir interruptReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	out := p[:0]
	for _, b := range p[:n] {
		if b == 0x03 || b == 0x1c {
			ir.cancel()
			continue
		}
		out = append(out, b)
	}
	return len(out), err
}
