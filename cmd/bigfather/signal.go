package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// shutdownGrace is how long past shutdown_timeout a stop may take before
// the process exits anyway: the pipeline's own shutdown (the final flush,
// leaving the group) is bounded by shutdown_timeout, and this covers what
// is not, like a Kafka client whose close waits on a group join that a
// stuck broker never answers. Exiting then is safe: the tables are the
// only state (DESIGN §3), exactly as after a SIGKILL.
const shutdownGrace = 2 * time.Second

// errStopSignal is the cancellation cause of the context a stop signal
// ends.
var errStopSignal = errors.New("stop signal")

// stopSignals turns SIGINT and SIGTERM into a cancelled context. The first
// signal is logged and cancels; once a command has said how long its stop
// may take (arm), a watchdog exits the process when the stop outlasts
// that. A second signal exits at once with status 128+signal.
type stopSignals struct {
	stderr io.Writer
	exit   func(code int)

	mu       sync.Mutex
	log      *slog.Logger
	timeout  time.Duration
	signaled bool
	watchdog *time.Timer
}

// watchSignals starts watching for stop signals; stop ends that and
// restores the default handling.
func watchSignals(parent context.Context, stderr io.Writer) (context.Context, *stopSignals, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	s := &stopSignals{stderr: stderr, exit: os.Exit}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				if s.received(sig) {
					cancel(errStopSignal)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, s, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
		s.mu.Lock()
		if s.watchdog != nil {
			s.watchdog.Stop()
		}
		s.mu.Unlock()
	}
}

// arm names the logger for signal messages and the stop's bound
// (shutdown_timeout); a signal that already arrived starts the watchdog
// now. Commands that never arm get no watchdog: their stop is whatever
// their context cancellation does, and a second signal still exits.
func (s *stopSignals) arm(log *slog.Logger, timeout time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log, s.timeout = log, timeout
	if s.signaled {
		s.startWatchdog()
	}
}

// received handles one signal and reports whether it is the first.
func (s *stopSignals) received(sig os.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := signalName(sig)
	if s.signaled {
		s.logf(slog.LevelWarn, "second signal, exiting now", "signal", name)
		code := 1
		if n, ok := sig.(syscall.Signal); ok {
			code = 128 + int(n)
		}
		s.exit(code)
		return false
	}
	s.signaled = true
	if s.timeout > 0 {
		s.logf(slog.LevelInfo, "signal received, stopping", "signal", name, "shutdown_timeout", s.timeout)
	} else {
		s.logf(slog.LevelInfo, "signal received, stopping", "signal", name)
	}
	s.startWatchdog()
	return true
}

// startWatchdog exits the process if the stop outlasts its bound. s.mu
// is held.
func (s *stopSignals) startWatchdog() {
	if s.timeout <= 0 || s.watchdog != nil {
		return
	}
	limit := s.timeout + shutdownGrace
	s.watchdog = time.AfterFunc(limit, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.logf(slog.LevelError, "stop did not finish within shutdown_timeout, exiting; "+
			"the next start resumes from the tables' watermarks", "shutdown_timeout", s.timeout, "waited", limit)
		s.exit(1)
	})
}

// logf logs through the command's logger, or as a plain line before a
// command has one. s.mu is held.
func (s *stopSignals) logf(level slog.Level, msg string, args ...any) {
	if s.log != nil {
		s.log.Log(context.Background(), level, msg, args...)
		return
	}
	line := "bigfather: " + msg
	for i := 0; i+1 < len(args); i += 2 {
		line += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	fmt.Fprintln(s.stderr, line)
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	}
	return sig.String()
}
