package replay

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
)

// Speed limits of interactive changes.
const (
	MinSpeed = 1.0 / 1024
	MaxSpeed = 1 << 20
)

// Control changes a running replay: pause and resume, step one event while
// paused, change the speed, quit. It is safe for concurrent use: a
// keyboard goroutine drives it while Run reads it before every event.
type Control struct {
	mu     sync.Mutex
	paused bool
	speed  float64 // 0 until set
	steps  int     // events to send while paused
	quit   bool

	version atomic.Uint64 // bumped on every change; Run polls it per event
	waiting atomic.Bool   // Run is blocked, paused with no step to take
	changed chan struct{} // signalled on every change; Run waits on it
}

// NewControl returns a running (not paused) control.
func NewControl() *Control {
	return &Control{changed: make(chan struct{}, 1)}
}

// ControlState is a snapshot of a Control.
type ControlState struct {
	Paused bool
	Speed  float64 // Max when unpaced
	Steps  int     // steps requested and not yet taken
	Quit   bool
}

// State returns the current state.
func (c *Control) State() ControlState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ControlState{Paused: c.paused, Speed: c.speed, Steps: c.steps, Quit: c.quit}
}

// Speed returns the speed, 0 when none was set yet.
func (c *Control) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// Waiting reports whether Run is blocked on the control (paused, no step
// pending). Tests and UIs use it to know the pause took effect.
func (c *Control) Waiting() bool { return c.waiting.Load() }

func (c *Control) change(f func()) {
	c.mu.Lock()
	f()
	c.mu.Unlock()
	c.version.Add(1)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Pause stops sending until Resume.
func (c *Control) Pause() { c.change(func() { c.paused = true }) }

// Resume continues after Pause; the schedule restarts from now, so the
// pause does not turn into a burst of overdue events.
func (c *Control) Resume() { c.change(func() { c.paused = false; c.steps = 0 }) }

// TogglePause pauses a running replay and resumes a paused one.
func (c *Control) TogglePause() {
	c.change(func() {
		c.paused = !c.paused
		c.steps = 0
	})
}

// Step sends one more event while paused; it does nothing while running.
func (c *Control) Step() {
	c.change(func() {
		if c.paused {
			c.steps++
		}
	})
}

// SetSpeed sets the speed (Max for unpaced), clamped to [MinSpeed,
// MaxSpeed] for finite values.
func (c *Control) SetSpeed(x float64) {
	c.change(func() { c.speed = clampSpeed(x) })
}

// Faster doubles the speed; it does nothing at Max.
func (c *Control) Faster() { c.change(func() { c.speed = clampSpeed(c.speed * 2) }) }

// Slower halves the speed; at Max it does nothing, since there is no
// recorded pace to halve.
func (c *Control) Slower() {
	c.change(func() {
		if !math.IsInf(c.speed, 1) {
			c.speed = clampSpeed(c.speed / 2)
		}
	})
}

// Quit ends the replay: Run returns as if its context had been cancelled,
// but with a nil error.
func (c *Control) Quit() { c.change(func() { c.quit = true }) }

func clampSpeed(x float64) float64 {
	switch {
	case math.IsInf(x, 1):
		return x
	case math.IsNaN(x) || x <= 0:
		return 1
	case x < MinSpeed:
		return MinSpeed
	case x > MaxSpeed:
		return MaxSpeed
	}
	return x
}

// takeStep consumes one pending step; it reports whether there was one.
func (c *Control) takeStep() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused && c.steps > 0 {
		c.steps--
		return true
	}
	return false
}

// Key bindings, as in rosbag2's player (which uses the arrow keys; the
// letters work everywhere).
const (
	KeyPause  = ' '
	KeyStep   = 'n'
	KeyFaster = '+'
	KeySlower = '-'
	KeyQuit   = 'q'
)

// KeyHelp describes the bindings for a status line.
const KeyHelp = "space pause/resume · n or → step (paused) · + or ↑ faster · - or ↓ slower · q quit"

// HandleKey applies one key to c and reports whether it was a binding.
// '=' counts as '+' (no shift needed) and '_' as '-'.
func (c *Control) HandleKey(b byte) bool {
	switch b {
	case KeyPause:
		c.TogglePause()
	case KeyStep, 'N':
		c.Step()
	case KeyFaster, '=':
		c.Faster()
	case KeySlower, '_':
		c.Slower()
	case KeyQuit, 'Q':
		c.Quit()
	default:
		return false
	}
	return true
}

// ReadKeys applies the keystrokes read from r to c until r ends (nil) or
// fails. Arrow keys arrive as ANSI escape sequences (ESC [ A…D): up is
// faster, down slower, right steps. Unknown keys and sequences are ignored.
func ReadKeys(r io.Reader, c *Control) error {
	buf := make([]byte, 64)
	var esc []byte // pending escape sequence
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case esc != nil:
				esc = append(esc, b)
				if len(esc) == 2 && b != '[' && b != 'O' {
					esc = nil // ESC followed by a plain key: drop both
					continue
				}
				if len(esc) == 3 {
					switch b {
					case 'A':
						c.Faster()
					case 'B':
						c.Slower()
					case 'C':
						c.Step()
					}
					esc = nil
				}
			case b == 0x1b:
				esc = []byte{b}
			default:
				c.HandleKey(b)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
