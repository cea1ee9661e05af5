// Package testproc runs a program for a test: its output captured, waited on
// until it is up, and stopped (SIGINT, then SIGKILL after a grace period)
// when the test ends. The end-to-end and load tests share it.
package testproc

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for a process to write while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Process is a program started by Start.
type Process struct {
	Name   string
	Cmd    *exec.Cmd
	Output *Buffer // stdout and stderr
	done   chan struct{}
}

// Start starts cmd with its output captured. When the test ends the process
// gets SIGINT, and SIGKILL if it has not exited after grace; its output is
// logged if the test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd, grace time.Duration) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, Output: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output.String())
		}
	})
	return p
}

// Exited waits up to timeout for the process to exit and returns its state,
// or nil if it is still running.
func (p *Process) Exited(timeout time.Duration) *os.ProcessState {
	select {
	case <-p.done:
		return p.Cmd.ProcessState
	case <-time.After(timeout):
		return nil
	}
}

// WaitUntil polls up until it is true. It fails the test if the process
// exits first or timeout passes.
func (p *Process) WaitUntil(t testing.TB, timeout time.Duration, up func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited early: %v\n%s", p.Name, p.Cmd.ProcessState, p.Output.String())
		default:
		}
		if up() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up within %v:\n%s", p.Name, timeout, p.Output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
