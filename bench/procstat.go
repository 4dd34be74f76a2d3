package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's memory and CPU use.
type procSample struct {
	RSSBytes int64
	// HWMBytes is the peak RSS since the process started.
	HWMBytes int64
	CPU      time.Duration
}

// readProc reads /proc/<pid>/status and /proc/<pid>/stat.
func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			s.RSSBytes = kb << 10
		case "VmHWM":
			s.HWMBytes = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after its closing
	// parenthesis start at field 3, so utime (14) and stime (15) are 11 and 12.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	fields := strings.Fields(string(rest))
	if len(fields) < 13 {
		return s, fmt.Errorf("stat of process %d has %d fields after the name", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("stat of process %d: bad utime/stime %q %q", pid, fields[11], fields[12])
	}
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// procWatch samples a process while a run goes on and keeps its peak RSS;
// cpu adds the CPU of the others to the process's own.
type procWatch struct {
	pid    int
	others []int
	first  procSample
	stop   chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	peakRSS int64
	last    procSample
	err     error
}

// watchProc starts sampling pid every interval; pid 0 watches nothing.
// others are only read by cpu.
func watchProc(pid int, others []int, interval time.Duration) (*procWatch, error) {
	w := &procWatch{pid: pid, others: others, stop: make(chan struct{}), done: make(chan struct{})}
	if pid == 0 {
		close(w.done)
		return w, nil
	}
	first, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	if _, err := w.cpu(); err != nil {
		return nil, err
	}
	w.first, w.last, w.peakRSS = first, first, first.RSSBytes
	go w.loop(interval)
	return w, nil
}

func (w *procWatch) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		s, err := readProc(w.pid)
		w.mu.Lock()
		if err != nil {
			w.err = err
		} else {
			w.last = s
			w.peakRSS = max(w.peakRSS, s.RSSBytes)
		}
		w.mu.Unlock()
	}
}

// ProcStats is what was seen of the worker process during a run.
type ProcStats struct {
	PID int
	// PeakRSSBytes is the largest RSS sampled during the run.
	PeakRSSBytes int64
	// EndRSSBytes is the RSS at the end of the run.
	EndRSSBytes int64
	// HWMBytes is the process's own peak RSS since it started.
	HWMBytes int64
	// CPU is the user+system CPU time the process used during the run.
	CPU time.Duration
}

// finish stops sampling, takes a last sample and returns the totals.
func (w *procWatch) finish() (ProcStats, error) {
	if w.pid == 0 {
		return ProcStats{}, nil
	}
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, err := readProc(w.pid); err == nil {
		w.last = s
		w.peakRSS = max(w.peakRSS, s.RSSBytes)
	} else if w.err == nil {
		w.err = err
	}
	return ProcStats{
		PID:          w.pid,
		PeakRSSBytes: w.peakRSS,
		EndRSSBytes:  w.last.RSSBytes,
		HWMBytes:     w.last.HWMBytes,
		CPU:          w.last.CPU - w.first.CPU,
	}, w.err
}

// snapshot reads the process now, outside the sampling loop.
func (w *procWatch) snapshot() (procSample, error) {
	if w.pid == 0 {
		return procSample{}, nil
	}
	s, err := readProc(w.pid)
	if err != nil {
		return s, err
	}
	w.mu.Lock()
	w.peakRSS = max(w.peakRSS, s.RSSBytes)
	w.mu.Unlock()
	return s, nil
}

// cpu is the user+system CPU time the watched processes have used since they
// started, summed; the difference of two readings is what a phase between
// them cost. Without a process it is 0.
func (w *procWatch) cpu() (time.Duration, error) {
	if w.pid == 0 {
		return 0, nil
	}
	var total time.Duration
	for _, pid := range append([]int{w.pid}, w.others...) {
		s, err := readProc(pid)
		if err != nil {
			return 0, err
		}
		total += s.CPU
	}
	return total, nil
}

// phaseCPU reads the CPU before and after run and returns the difference, or
// 0 when either reading failed (a process that ended mid-run). bench is what
// the bench's own process used meanwhile (its producers, consumer and, in a
// baseline, the workflows' worker), or 0 when the bench is itself watched.
func (w *procWatch) phaseCPU(run func() error) (courier, bench time.Duration, err error) {
	before, berr := w.cpu()
	selfBefore, sberr := w.selfCPU()
	err = run()
	after, aerr := w.cpu()
	selfAfter, saerr := w.selfCPU()
	if berr == nil && aerr == nil {
		courier = after - before
	}
	if sberr == nil && saerr == nil {
		bench = selfAfter - selfBefore
	}
	return courier, bench, err
}

// selfCPU is the CPU the bench's process has used, or 0 when no process is
// watched or the bench is one of the watched.
func (w *procWatch) selfCPU() (time.Duration, error) {
	self := os.Getpid()
	if w.pid == 0 || w.pid == self || slices.Contains(w.others, self) {
		return 0, nil
	}
	s, err := readProc(self)
	return s.CPU, err
}
