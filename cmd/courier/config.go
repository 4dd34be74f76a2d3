package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/worker"
)

// Config is everything the courier binary can be told, from flags and
// COURIER_* environment variables (a flag wins over its variable, which wins
// over the default). It is loaded and validated once at start-up.
type Config struct {
	TemporalAddress   string
	TemporalGzip      bool
	TemporalNamespace string

	KafkaBrokers  string
	KafkaVersion  string
	KafkaClientID string

	// Store is the mirror database.
	Store         store.Config
	DBAutoMigrate bool

	HTTPAddr      string
	MetricsAddr   string
	ProfilesAddr  string
	APIKeys       string
	TemporalUIURL string
	TraceURL      string
	// ConsoleSessionMaxAge and ConsoleSessionIdle limit a console sign-in.
	ConsoleSessionMaxAge time.Duration
	ConsoleSessionIdle   time.Duration
	CheckURLAllowHosts   string
	TrustedProxies       string
	MaxPayloadBytes      int

	CheckDelay         time.Duration
	CheckBackoff       float64
	CheckMaxDelay      time.Duration
	CheckMaxAttempts   int
	CheckTimeout       time.Duration
	ResendIntervals    string
	PublishMaxInterval time.Duration

	// Worker holds the worker's flags over worker.DefaultConfig.
	Worker worker.Config

	LogLevel  string
	LogFormat string

	Dev DevConfig

	Bench BenchConfig

	Replay ReplayConfig

	// envErrors are COURIER_* variables that did not parse.
	envErrors []error
}

// DevConfig is what only `courier dev` reads.
type DevConfig struct {
	DataDir      string
	Host         string
	TemporalPort int
	UIPort       int
	KafkaPort    int
	NoUI         bool
	// TemporalPostgres is a postgres:// URL for the embedded Temporal
	// server's state instead of SQLite in the data directory.
	TemporalPostgres string
	// External services instead of the embedded ones.
	Temporal string
	Kafka    string
	MySQL    string
}

// envPrefix starts every environment variable courier reads.
const envPrefix = "COURIER_"

// flagCheckURLAllowHosts is the flag of the gateway's check URL allow-list,
// which the gateway names when it refuses a check_url host.
const flagCheckURLAllowHosts = "check-url-allow-hosts"

// register declares the flags of cmd on fs, with defaults taken from the
// environment. Flags not meaningful for cmd are not registered.
func (c *Config) register(fs *flag.FlagSet, cmd string) {
	defaults := wire.DefaultTiming()
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, c.envString(name, def), usage+" ("+envName(name)+")")
	}
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.DurationVar(p, name, c.envDuration(name, def), usage+" ("+envName(name)+")")
	}
	integer := func(p *int, name string, def int, usage string) {
		fs.IntVar(p, name, c.envInt(name, def), usage+" ("+envName(name)+")")
	}
	boolean := func(p *bool, name string, def bool, usage string) {
		fs.BoolVar(p, name, c.envBool(name, def), usage+" ("+envName(name)+")")
	}

	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text", "log format: text or json")
	if cmd == "version" {
		return
	}
	if cmd == "bench" {
		c.Bench.register(fs)
		return
	}
	if cmd == "healthcheck" {
		str(&c.HTTPAddr, "http-addr", ":8080", "address of the gateway to check")
		return
	}
	if cmd == "replay" {
		str(&c.TemporalAddress, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
		str(&c.TemporalNamespace, "temporal-namespace", "default", "Temporal namespace")
		c.Replay.register(fs)
		return
	}
	devDB := cmd == "dev"
	if !devDB {
		str(&c.Store.Driver, "db-driver", store.DriverMySQL, "mirror database driver: "+strings.Join(store.Drivers(), " or "))
		str(&c.Store.DSN, "db-dsn", "", "mirror database DSN: user:pass@tcp(host:3306)/db for mysql, a file path for sqlite")
	}
	if cmd == "migrate" {
		return
	}
	if cmd != "dev" {
		boolean(&c.DBAutoMigrate, "db-auto-migrate", false, "apply mirror schema migrations at start (courier migrate does it explicitly)")
		str(&c.TemporalAddress, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
		boolean(&c.TemporalGzip, "temporal-gzip", true, "compress gRPC requests to Temporal (false saves CPU on both ends where bandwidth is free)")
		str(&c.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated host:port")
	}
	str(&c.TemporalNamespace, "temporal-namespace", "default", "Temporal namespace")
	str(&c.KafkaVersion, "kafka-version", "", "oldest Kafka version in the cluster, e.g. 3.7.0 (default: sarama's)")
	str(&c.KafkaClientID, "kafka-client-id", activities.DefaultClientID, "Kafka client id")

	if cmd == "gateway" || cmd == "all" || cmd == "dev" {
		addr := ":8080"
		allow := ""
		if cmd == "dev" {
			addr, allow = "127.0.0.1:8080", "loopback"
		}
		str(&c.HTTPAddr, "http-addr", addr, "gateway listen address")
		str(&c.APIKeys, "api-keys", "", "API keys: sha256:<hex>:name:roles[:topics],... (see courier apikey); roles producer, consumer, admin joined by +; topics names, prefix.* or * joined by +, required for producers and consumers; empty runs the gateway open")
		if cmd != "dev" {
			str(&c.TemporalUIURL, "temporal-ui-url", "", "the Temporal Web UI's URL, for the console's links to a message's workflow (dev links its own)")
		}
		dur(&c.ConsoleSessionMaxAge, "console-session-max-age", console.DefaultSessionMaxAge, "longest a console sign-in lasts, however it is used")
		dur(&c.ConsoleSessionIdle, "console-session-idle", console.DefaultSessionIdle, "a console sign-in unused this long ends (at most console-session-max-age)")
		str(&c.TraceURL, "trace-url", "", "link from a message's console page to its trace, with {trace_id} where the id goes (e.g. http://jaeger:16686/trace/{trace_id})")
		str(&c.CheckURLAllowHosts, flagCheckURLAllowHosts, allow, "hosts a check_url may name: host, *.suffix or loopback, comma-separated")
		str(&c.TrustedProxies, "trusted-proxies", "", "reverse proxies in front of the gateway (IPs or CIDR ranges, comma-separated) whose X-Forwarded-For names the client that wrong keys are counted by; empty trusts no header")
		integer(&c.MaxPayloadBytes, "max-payload-bytes", gateway.DefaultMaxPayloadBytes, "largest message payload accepted")
		dur(&c.CheckDelay, "check-delay", defaults.CheckDelay, "default wait before the first check-back")
		fs.Float64Var(&c.CheckBackoff, "check-backoff", c.envFloat("check-backoff", defaults.CheckBackoff), "default growth of the wait between check-backs ("+envName("check-backoff")+")")
		dur(&c.CheckMaxDelay, "check-max-delay", defaults.CheckMaxDelay, "default cap on the wait between check-backs")
		integer(&c.CheckMaxAttempts, "check-max-attempts", defaults.CheckMaxAttempts, "default number of check-backs before CHECK_EXHAUSTED")
		dur(&c.CheckTimeout, "check-timeout", defaults.CheckTimeout, "default timeout of one check-back call")
		str(&c.ResendIntervals, "resend-intervals", joinDurations(defaults.ResendIntervals), "default waits for completion after each send, comma-separated; DEAD after the last")
		dur(&c.PublishMaxInterval, "publish-max-interval", defaults.PublishMaxInterval, "default cap on the backoff between publish retries")
	}
	if cmd == "worker" || cmd == "all" || cmd == "dev" {
		c.Worker = worker.DefaultConfig()
		integer(&c.Worker.MaxConcurrentActivities, "worker-max-activities", c.Worker.MaxConcurrentActivities, "activities (publishes, check-backs, mirror writes) in flight")
		dur(&c.Worker.StopTimeout, "worker-stop-timeout", c.Worker.StopTimeout, "how long shutdown waits for in-flight activities")
		integer(&c.Worker.StickyCacheSize, "worker-sticky-cache", c.Worker.StickyCacheSize, "workflows kept in memory between their tasks; evicted ones are rebuilt from history")
		boolean(&c.Worker.MirrorWritesAlone, "mirror-writes-alone", false, "give each mirror write a transaction of its own; by default the writes of many messages share one on MySQL, one commit for all")
		dur(&c.Worker.MirrorRetention, "mirror-retention", c.Worker.MirrorRetention, "how long the mirror keeps a COMPLETED or CANCELLED message after it settled; 0 keeps every row")
	}
	if cmd == "worker" || cmd == "gateway" || cmd == "all" || cmd == "dev" {
		str(&c.ProfilesAddr, "pprof-addr", "", "serve Go's runtime profiles on this address's /debug/pprof/ (keep it private: off by default)")
	}
	if cmd == "worker" {
		str(&c.MetricsAddr, "metrics-addr", "", "serve the worker's Prometheus metrics on this address's /metrics (the gateway serves its own)")
	}
	if cmd == "dev" {
		str(&c.Dev.DataDir, "data-dir", ".courier", "where the embedded stack keeps its data")
		str(&c.Dev.Host, "host", "127.0.0.1", "host the embedded servers listen on")
		integer(&c.Dev.TemporalPort, "temporal-port", 7233, "embedded Temporal frontend port")
		integer(&c.Dev.UIPort, "ui-port", 8233, "embedded Temporal Web UI port")
		integer(&c.Dev.KafkaPort, "kafka-port", 9092, "embedded Kafka broker port")
		boolean(&c.Dev.NoUI, "no-ui", false, "do not start the Temporal Web UI")
		str(&c.Dev.TemporalPostgres, "temporal-postgres", "", "keep the embedded Temporal server's state in PostgreSQL instead of SQLite: a postgres://user@host:5432/db URL; db and db_visibility are created if missing")
		str(&c.Dev.Temporal, "temporal", "", "use this Temporal frontend (host:port) instead of the embedded server")
		str(&c.Dev.Kafka, "kafka", "", "use these Kafka brokers (comma-separated) instead of the embedded broker")
		str(&c.Dev.MySQL, "mysql", "", "keep the mirror in this MySQL database (DSN) instead of SQLite in the data directory")
	}
}

// Validate reports every problem with c, one per line.
func (c *Config) Validate(cmd string) error {
	errs := append([]error(nil), c.envErrors...)
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format must be text or json, got %q", c.LogFormat))
	}
	switch cmd {
	case "version", "healthcheck":
		return errors.Join(errs...)
	case "replay":
		if c.TemporalAddress == "" {
			errs = append(errs, errors.New("temporal-address is required"))
		}
		if c.Replay.Limit < 0 || c.Replay.Concurrency < 1 {
			errs = append(errs, errors.New("limit must be 0 or more and concurrency 1 or more"))
		}
		return errors.Join(errs...)
	case "bench":
		return errors.Join(append(errs, c.Bench.validate())...)
	case "migrate":
		errs = append(errs, c.Store.Validate())
		return errors.Join(errs...)
	}
	if cmd != "dev" {
		errs = append(errs, c.Store.Validate())
		if c.TemporalAddress == "" {
			errs = append(errs, errors.New("temporal-address is required"))
		}
		if len(splitList(c.KafkaBrokers)) == 0 {
			errs = append(errs, errors.New("kafka-brokers is required"))
		}
	}
	if c.TemporalNamespace == "" {
		errs = append(errs, errors.New("temporal-namespace is required"))
	}
	if cmd == "gateway" || cmd == "all" || cmd == "dev" {
		if _, err := c.gatewayConfig(); err != nil {
			errs = append(errs, err)
		}
	}
	if cmd == "worker" || cmd == "all" || cmd == "dev" {
		errs = append(errs, c.Worker.Validate())
	}
	if cmd == "dev" {
		if c.Dev.DataDir == "" {
			errs = append(errs, errors.New("data-dir is required"))
		}
		if c.Dev.TemporalPostgres != "" && c.Dev.Temporal != "" {
			errs = append(errs, errors.New("temporal-postgres configures the embedded Temporal server; it cannot go with temporal"))
		}
		for name, port := range map[string]int{"temporal-port": c.Dev.TemporalPort, "ui-port": c.Dev.UIPort, "kafka-port": c.Dev.KafkaPort} {
			if port < 1 || port > 65535 {
				errs = append(errs, fmt.Errorf("%s must be a TCP port, got %d", name, port))
			}
		}
	}
	return errors.Join(errs...)
}

// policy is the server-wide default lifecycle policy.
func (c *Config) policy() (contract.Policy, error) {
	resends, err := parseDurations(c.ResendIntervals)
	if err != nil {
		return contract.Policy{}, fmt.Errorf("resend-intervals: %w", err)
	}
	p := contract.Policy{
		CheckDelay:         c.CheckDelay,
		CheckBackoff:       c.CheckBackoff,
		CheckMaxDelay:      c.CheckMaxDelay,
		CheckMaxAttempts:   c.CheckMaxAttempts,
		CheckTimeout:       c.CheckTimeout,
		ResendIntervals:    resends,
		PublishMaxInterval: c.PublishMaxInterval,
	}
	if err := p.Validate(); err != nil {
		return contract.Policy{}, fmt.Errorf("default policy: %w", err)
	}
	return p, nil
}

func (c *Config) gatewayConfig() (gateway.Config, error) {
	var errs []error
	keys, err := access.ParseKeys(c.APIKeys)
	if err != nil {
		errs = append(errs, fmt.Errorf("api-keys: %w", err))
	}
	policy, err := c.policy()
	if err != nil {
		errs = append(errs, err)
	}
	gc := gateway.Config{
		APIKeys:            keys,
		CheckURLAllowHosts: splitList(c.CheckURLAllowHosts),
		// A refusal names where the list is set: this flag, or its variable.
		CheckURLAllowSetting: "--" + flagCheckURLAllowHosts + " / " + envName(flagCheckURLAllowHosts),
		TrustedProxies:       splitList(c.TrustedProxies),
		MaxPayloadBytes:      c.MaxPayloadBytes,
		DefaultPolicy:        policy,
		Console: console.Config{
			TemporalUI: c.TemporalUIURL, Namespace: c.TemporalNamespace,
			SessionMaxAge: c.ConsoleSessionMaxAge, SessionIdle: c.ConsoleSessionIdle,
			TraceURL: c.TraceURL,
		},
	}
	gc.SetDefaults()
	if len(errs) == 0 {
		errs = append(errs, gc.Validate())
	}
	return gc, errors.Join(errs...)
}

// connectConfig says where the parts of a gateway or worker process are.
func (c *Config) connectConfig() app.ConnectConfig {
	return app.ConnectConfig{
		TemporalAddress:      c.TemporalAddress,
		TemporalNamespace:    c.TemporalNamespace,
		TemporalUncompressed: !c.TemporalGzip,
		Store:                c.Store,
		Migrate:              c.DBAutoMigrate,
		Kafka: activities.ProducerConfig{
			Brokers:  splitList(c.KafkaBrokers),
			ClientID: c.KafkaClientID,
			Version:  c.KafkaVersion,
		},
	}
}

// logValue prints the configuration at debug level with secrets masked.
func (c *Config) logValue() slog.Value {
	return slog.GroupValue(
		slog.String("temporal_address", c.TemporalAddress),
		slog.String("temporal_namespace", c.TemporalNamespace),
		slog.String("kafka_brokers", c.KafkaBrokers),
		slog.String("db_driver", c.Store.Driver),
		slog.String("db_dsn", maskDSN(c.Store.DSN)),
		slog.String("http_addr", c.HTTPAddr),
		slog.Int("api_keys", len(splitList(c.APIKeys))),
		slog.String("check_url_allow_hosts", c.CheckURLAllowHosts),
		slog.String("trusted_proxies", c.TrustedProxies),
		slog.Duration("console_session_max_age", c.ConsoleSessionMaxAge),
		slog.Duration("console_session_idle", c.ConsoleSessionIdle),
		slog.Int("max_payload_bytes", c.MaxPayloadBytes),
		slog.Duration("check_delay", c.CheckDelay),
		slog.Int("check_max_attempts", c.CheckMaxAttempts),
		slog.String("resend_intervals", c.ResendIntervals),
		slog.Int("worker_max_activities", c.Worker.MaxConcurrentActivities),
	)
}

// maskDSN hides the password of a user:password@... DSN.
func maskDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	colon := strings.Index(dsn, ":")
	if at < 0 || colon < 0 || colon > at {
		return dsn
	}
	return dsn[:colon+1] + "****" + dsn[at:]
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *Config) envString(name, def string) string {
	if v, ok := os.LookupEnv(envName(name)); ok {
		return v
	}
	return def
}

func (c *Config) envDuration(name string, def time.Duration) time.Duration {
	return envParsed(c, name, def, time.ParseDuration, "a duration like 30s or 5m")
}

func (c *Config) envInt(name string, def int) int {
	return envParsed(c, name, def, strconv.Atoi, "a whole number")
}

func (c *Config) envFloat(name string, def float64) float64 {
	return envParsed(c, name, def, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, "a number")
}

func (c *Config) envBool(name string, def bool) bool {
	return envParsed(c, name, def, strconv.ParseBool, "true or false")
}

// envParsed is the value of flag name's environment variable parsed by
// parse, or def when it is unset. A value parse refuses is remembered as an
// error saying it is not what it should be (want), so that start-up fails
// with every such mistake rather than the first.
func envParsed[T any](c *Config, name string, def T, parse func(string) (T, error), want string) T {
	v, ok := os.LookupEnv(envName(name))
	if !ok {
		return def
	}
	parsed, err := parse(v)
	if err != nil {
		c.envErrors = append(c.envErrors, fmt.Errorf("%s: %q is not %s", envName(name), v, want))
		return def
	}
	return parsed
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range splitList(s) {
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration like 30s or 5m", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

func newLogger(c *Config) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
