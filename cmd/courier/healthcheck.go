package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// runHealthcheck is `courier healthcheck`: exit 0 when the gateway at
// http-addr answers /readyz with 200. Container images without curl use it.
func runHealthcheck(ctx context.Context, cfg *Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + dialAddr(cfg.HTTPAddr) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
