package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildCourier builds the courier binary into dir and returns its path.
func BuildCourier(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "courier")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/courier-mq/courier/cmd/courier")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build courier: %w\n%s", err, out)
	}
	return bin, nil
}

// Process is a courier command (`courier worker`, `courier dev`) running as
// its own OS process, so a test can kill it with SIGKILL the way a crash or
// an OOM kill would.
type Process struct {
	// Name is what the summary calls the process ("worker", "courier dev").
	Name    string
	bin     string
	args    []string
	env     []string
	logPath string

	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{}
	kills int
}

// NewProcess prepares a run of bin with args and the COURIER_* variables in
// env, called name in reports; its output goes to logPath.
func NewProcess(name, bin string, args []string, env map[string]string, logPath string) *Process {
	w := &Process{Name: name, bin: bin, args: args, logPath: logPath}
	for k, v := range env {
		w.env = append(w.env, k+"="+v)
	}
	return w
}

// Start starts the process.
func (w *Process) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd != nil {
		return fmt.Errorf("%s is already running", w.Name)
	}
	logFile, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s log: %w", w.Name, err)
	}
	cmd := exec.Command(w.bin, w.args...)
	cmd.Env = append(os.Environ(), w.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = processSysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", w.Name, err)
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exit)
	}()
	w.cmd, w.exit = cmd, exit
	return nil
}

// Kill sends SIGKILL and waits for the process to die: in-flight activities
// are lost mid-way and Temporal must time them out and retry them.
func (w *Process) Kill() error {
	return w.signal(syscall.SIGKILL, true)
}

// Stop asks the process to shut down gracefully and waits for it.
func (w *Process) Stop() error {
	return w.signal(syscall.SIGTERM, false)
}

func (w *Process) signal(sig syscall.Signal, kill bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return nil
	}
	if err := w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", w.Name, err)
	}
	select {
	case <-w.exit:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exit
	}
	if kill {
		w.kills++
	}
	w.cmd = nil
	return nil
}

// Kills counts the SIGKILLs sent.
func (w *Process) Kills() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kills
}

// Exited reports whether the process died on its own.
func (w *Process) Exited() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return false
	}
	select {
	case <-w.exit:
		return true
	default:
		return false
	}
}

// Succeeded reports whether the process has exited with status 0.
func (w *Process) Succeeded() bool {
	if !w.Exited() {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cmd.ProcessState.Success()
}

// LogErrors is the last n lines of the process's output that report an
// error, each cut to 500 bytes, for failure reports: a Temporal node's
// fatal line carries a stack trace that fills any tail.
func (w *Process) LogErrors(n int) string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"level":"fatal"`) || strings.Contains(line, "panic") {
			lines = append(lines, strings.TrimSpace(line[:min(len(line), 500)]))
		}
	}
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// LogTail is the last n bytes of the process's output, for failure reports.
func (w *Process) LogTail(n int64) string {
	f, err := os.Open(w.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return err.Error()
	}
	return string(buf)
}
