package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/courier-mq/courier/devstack"
)

// devListener is one address `courier dev` listens on, with the flag that
// sets it.
type devListener struct {
	what, flag string
	host       string
	port       int
}

// devListeners are the addresses cfg's `courier dev` listens on. The
// embedded Temporal server's internal services (history, matching, worker,
// the frontend's HTTP API) take free ports of their own choosing and are not
// listed: no flag sets them and nothing else can expect them.
func devListeners(cfg *Config) ([]devListener, error) {
	var ls []devListener
	add := func(what, flag, addr string) error {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", flag, addr, err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("--%s %q: port %q is not a number", flag, addr, p)
		}
		if port != 0 { // 0: the kernel picks one, never taken
			ls = append(ls, devListener{what: what, flag: flag, host: host, port: port})
		}
		return nil
	}
	hostPort := func(port int) string { return net.JoinHostPort(cfg.Dev.Host, strconv.Itoa(port)) }
	if err := add("gateway", "http-addr", cfg.HTTPAddr); err != nil {
		return nil, err
	}
	if cfg.Dev.Temporal == "" {
		if err := add("Temporal frontend", "temporal-port", hostPort(cfg.Dev.TemporalPort)); err != nil {
			return nil, err
		}
	}
	if !cfg.Dev.NoUI {
		if err := add("Temporal Web UI", "ui-port", hostPort(cfg.Dev.UIPort)); err != nil {
			return nil, err
		}
	}
	if cfg.Dev.Kafka == "" {
		if err := add("Kafka broker", "kafka-port", hostPort(cfg.Dev.KafkaPort)); err != nil {
			return nil, err
		}
	}
	if cfg.ProfilesAddr != "" {
		if err := add("profiles", "pprof-addr", cfg.ProfilesAddr); err != nil {
			return nil, err
		}
	}
	return ls, nil
}

func (l devListener) String() string {
	return fmt.Sprintf("%s, --%s / %s", l.what, l.flag, envName(l.flag))
}

// checkDevPorts fails, naming the port and its flag, when any listener of
// cfg's `courier dev` cannot listen, or two of them share a port: checked
// before anything starts, so that a port held by another process stops dev
// with one line instead of after half the stack has started.
func checkDevPorts(cfg *Config) error {
	ls, err := devListeners(cfg)
	if err != nil {
		return err
	}
	for i, l := range ls {
		for _, o := range ls[:i] {
			if o.port == l.port {
				return fmt.Errorf("port %d is given to both the %s (--%s) and the %s (--%s); change one", l.port, o.what, o.flag, l.what, l.flag)
			}
		}
	}
	for _, l := range ls {
		err := devstack.CheckPort(l.host, l.port)
		switch {
		case err == nil:
		case errors.Is(err, syscall.EADDRINUSE):
			return fmt.Errorf("port %d (%s) is in use", l.port, l)
		default:
			return fmt.Errorf("port %d (%s): %w", l.port, l, err)
		}
	}
	return nil
}
