package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// WorkerProcess is `courier worker` running as its own OS process, so a test
// can kill it with SIGKILL the way a crash or an OOM kill would.
type WorkerProcess struct {
	bin     string
	env     []string
	logPath string

	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{}
	kills int
}

// NewWorkerProcess prepares a worker run from bin with the COURIER_*
// variables in env; its output goes to logPath.
func NewWorkerProcess(bin string, env map[string]string, logPath string) *WorkerProcess {
	w := &WorkerProcess{bin: bin, logPath: logPath}
	for k, v := range env {
		w.env = append(w.env, k+"="+v)
	}
	return w
}

// Start starts the worker process.
func (w *WorkerProcess) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd != nil {
		return errors.New("worker process is already running")
	}
	logFile, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open worker log: %w", err)
	}
	cmd := exec.Command(w.bin, "worker")
	cmd.Env = append(os.Environ(), w.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = workerSysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start courier worker: %w", err)
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
func (w *WorkerProcess) Kill() error {
	return w.signal(syscall.SIGKILL, true)
}

// Stop asks the worker to shut down gracefully and waits for it.
func (w *WorkerProcess) Stop() error {
	return w.signal(syscall.SIGTERM, false)
}

func (w *WorkerProcess) signal(sig syscall.Signal, kill bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return nil
	}
	if err := w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal courier worker: %w", err)
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
func (w *WorkerProcess) Kills() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kills
}

// Exited reports whether the process died on its own.
func (w *WorkerProcess) Exited() bool {
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

// LogTail is the last n bytes of the worker's output, for failure reports.
func (w *WorkerProcess) LogTail(n int64) string {
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
