package conformance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/internal/devcourier"
)

// errKilled is the answer of every request pending when the adapter died.
var errKilled = errors.New("the adapter exited before it answered")

// process is one running adapter: requests go to its stdin, answers and
// events come from its stdout, its log collects in stderr.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *devcourier.Output
	exited chan struct{}

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan protocol.Response
	gates   map[string]chan protocol.Response
}

// startProcess runs the adapter command argv.
func startProcess(argv []string, log *devcourier.Output) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = log
	p := &process{cmd: cmd, stdin: stdin, stderr: log, exited: make(chan struct{}), pending: map[int64]chan protocol.Response{}, gates: map[string]chan protocol.Response{}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start adapter %v: %w", argv, err)
	}
	go p.read(stdout)
	return p, nil
}

// read dispatches stdout's lines until the adapter exits, then fails every
// pending request.
func (p *process) read(stdout io.Reader) {
	in := bufio.NewScanner(stdout)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var r protocol.Response
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fmt.Fprintf(p.stderr, "runner: not a protocol line on stdout: %q\n", in.Text())
			continue
		}
		p.mu.Lock()
		switch {
		case r.Event == "gate":
			p.gate(r.Gate) <- r
		case r.Event != "":
			fmt.Fprintf(p.stderr, "runner: unknown event %q\n", r.Event)
		default:
			if ch, ok := p.pending[r.ID]; ok {
				ch <- r
				delete(p.pending, r.ID)
			}
		}
		p.mu.Unlock()
	}
	_ = p.cmd.Wait()
	p.mu.Lock()
	for id, ch := range p.pending {
		ch <- protocol.Response{ID: id, Error: errKilled.Error()}
		delete(p.pending, id)
	}
	p.mu.Unlock()
	close(p.exited)
}

// gate is the channel gate name's event arrives on; p.mu is held.
func (p *process) gate(name string) chan protocol.Response {
	ch, ok := p.gates[name]
	if !ok {
		ch = make(chan protocol.Response, 1)
		p.gates[name] = ch
	}
	return ch
}

// waitGate returns gate name's event, or an error when the adapter exits
// first.
func (p *process) waitGate(name string) (protocol.Response, error) {
	p.mu.Lock()
	ch := p.gate(name)
	p.mu.Unlock()
	select {
	case r := <-ch:
		return r, nil
	case <-p.exited:
		return protocol.Response{}, fmt.Errorf("gate %s: %w", name, errKilled)
	case <-time.After(settleWithin):
		return protocol.Response{}, fmt.Errorf("no call reached gate %s within %s", name, settleWithin)
	}
}

// send writes req and returns the channel its answer comes on.
func (p *process) send(req protocol.Request) <-chan protocol.Response {
	ch := make(chan protocol.Response, 1)
	p.mu.Lock()
	p.nextID++
	req.ID = p.nextID
	select {
	case <-p.exited:
		ch <- protocol.Response{ID: req.ID, Error: errKilled.Error()}
		p.mu.Unlock()
		return ch
	default:
	}
	p.pending[req.ID] = ch
	line, err := json.Marshal(req)
	if err == nil {
		_, err = p.stdin.Write(append(line, '\n'))
	}
	p.mu.Unlock()
	if err != nil {
		fmt.Fprintf(p.stderr, "runner: write request: %v\n", err)
	}
	return ch
}

// call sends req, waits for the answer and decodes its result into out.
// Every operation but transaction answers at once.
func (p *process) call(req protocol.Request, out any) error {
	var r protocol.Response
	select {
	case r = <-p.send(req):
	case <-time.After(settleWithin):
		return fmt.Errorf("%s: no answer within %s", req.Op, settleWithin)
	}
	if r.Error != "" {
		if r.Error == errKilled.Error() {
			return fmt.Errorf("%s: %w", req.Op, errKilled)
		}
		return fmt.Errorf("%s: %s", req.Op, r.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result, out)
}

// kill ends the adapter with SIGKILL, as a crash would, and waits until it
// is gone.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// signal sends sig to the adapter: SIGSTOP freezes it as a long GC pause
// or a stalled VM does, SIGCONT resumes it.
func (p *process) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to the adapter: %w", sig, err)
	}
	return nil
}

// Modes starts the adapter argv once and returns the modes its hello
// lists.
func Modes(t testing.TB, argv []string) []string {
	t.Helper()
	log := &devcourier.Output{}
	p, err := startProcess(argv, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	var hello protocol.Hello
	if err := p.call(protocol.Request{Op: "hello"}, &hello); err != nil || len(hello.Modes) == 0 {
		t.Fatalf("hello: %v, modes %v\n%s", err, hello.Modes, log.String())
	}
	return hello.Modes
}
