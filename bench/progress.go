package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress is the one-line status on stderr. On a terminal the line is
// rewritten in place a few times a second; elsewhere (a log file, CI) one
// line is printed when each phase ends, so logs stay short.
type progress struct {
	w   io.Writer
	tty bool

	mu    sync.Mutex
	phase string
	last  time.Time
	start time.Time
	line  string
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		return nil
	}
	return &progress{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update reports done of total in phase, with an optional extra note.
func (p *progress) update(phase string, done, total int64, extra string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if phase != p.phase {
		p.endLocked()
		p.phase, p.start = phase, now
	}
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	p.line = fmt.Sprintf("bench %-4s %6.1f%%  %d/%d records  %.1fs", phase, pct, done, total, now.Sub(p.start).Seconds())
	if extra != "" {
		p.line += "  " + extra
	}
	if p.tty && now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r\033[K%s", p.line)
	}
}

// done ends the current phase's line.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	p.phase = ""
}

func (p *progress) endLocked() {
	if p.phase == "" || p.line == "" {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.line)
	} else {
		fmt.Fprintln(p.w, p.line)
	}
	p.line = ""
}
