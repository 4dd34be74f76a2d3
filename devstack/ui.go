package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// UIConfig configures the embedded Temporal Web UI.
type UIConfig struct {
	// Host is the address the UI listens on. Default "127.0.0.1".
	Host string
	// Port is the UI's HTTP port. Default 8233.
	Port int
	// TemporalHostPort is the frontend the UI talks to, e.g. Temporal.HostPort().
	// Required.
	TemporalHostPort string
	// Namespace is the namespace the UI opens. Default "default".
	Namespace string
}

func (c *UIConfig) setDefaults() {
	if c.Host == "" {
		c.Host = loopback
	}
	if c.Port == 0 {
		c.Port = 8233
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
}

// Validate reports the first invalid field of a defaulted UIConfig.
func (c UIConfig) Validate() error {
	if c.TemporalHostPort == "" {
		return errors.New("ui: TemporalHostPort is required")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("ui: Port %d is not in 1-65535", c.Port)
	}
	return nil
}

// UI is a running Temporal Web UI.
type UI struct {
	server *uiserver.Server
	url    string
	done   chan struct{} // closed when the server's Start returns
	err    error         // what Start returned; read after done
}

// StartUI serves the Temporal Web UI for cfg.TemporalHostPort and returns once
// it answers HTTP.
func StartUI(ctx context.Context, cfg UIConfig) (*UI, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	// The UI server exits the process (echo's Logger.Fatal) when it cannot
	// listen, so find out here and return an error instead.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for temporal ui: %w", err)
	}
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("release temporal ui port %s: %w", addr, err)
	}

	u := &UI{
		server: uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			TemporalGRPCAddress: cfg.TemporalHostPort,
			Host:                cfg.Host,
			Port:                cfg.Port,
			EnableUI:            true,
			DefaultNamespace:    cfg.Namespace,
			// Plain HTTP on a dev machine: the CSRF cookie cannot be Secure.
			CORS:             uiconfig.CORS{CookieInsecure: true},
			HideLogs:         true,
			DisableNewsFetch: true,
		})),
		url:  "http://" + net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(cfg.Port)),
		done: make(chan struct{}),
	}
	go func() {
		defer close(u.done)
		u.err = u.server.Start()
	}()
	if err := u.awaitHTTP(ctx); err != nil {
		return nil, errors.Join(err, u.Stop())
	}
	return u, nil
}

// URL is where a browser opens the UI.
func (u *UI) URL() string { return u.url }

// Stop closes the UI's listener and connections and waits for it to finish.
func (u *UI) Stop() error {
	u.server.Stop()
	<-u.done
	if u.err != nil {
		return fmt.Errorf("temporal ui: %w", u.err)
	}
	return nil
}

func (u *UI) awaitHTTP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	health := u.url + "/healthz"
	for {
		err := get(ctx, health)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for temporal ui at %s: %w", u.url, err)
		case <-u.done:
			return fmt.Errorf("temporal ui stopped before serving: %w", u.err)
		case <-time.After(pollInterval):
		}
	}
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return nil
}
