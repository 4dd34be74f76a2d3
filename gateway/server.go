package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
)

// Deps are what the gateway talks to.
type Deps struct {
	// Messages starts message workflows and says whom a message belongs to.
	Messages *contract.Client
	// Operations asks messages to act, re-drives them and reads them.
	Operations *operations.Service
	// Store is the messages mirror the list and stats routes answer from.
	Store *store.Store
	// Console is the operator console, served under console.Prefix; nil
	// serves none.
	Console http.Handler
	// Kafka is the readiness probe for Kafka; nil means /readyz does not
	// check Kafka.
	Kafka func(ctx context.Context) error
	// Throttle counts wrong keys (see access.Throttle); app shares one with
	// the console. Nil: one of the gateway's own.
	Throttle *access.Throttle
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the gateway's metrics and is served on /metrics; nil
	// means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
}

// Server is the gateway: an echo instance with Courier's routes.
type Server struct {
	cfg      Config
	rules    rules
	keys     *access.Keyring
	throttle *access.Throttle
	messages *contract.Client
	ops      *operations.Service
	store    *store.Store
	kafka    func(ctx context.Context) error
	logger   *slog.Logger
	metrics  *metrics
	console  http.Handler
	echo     *echo.Echo
	routes   []Route
}

// Route is one method and path the gateway serves. Path uses OpenAPI's
// template syntax: /v1/messages/{id}.
type Route struct {
	Method string
	Path   string
}

// shutdownTimeout is how long Run lets in-flight requests finish.
const shutdownTimeout = 10 * time.Second

// New builds the gateway. It sets cfg's defaults, validates it and registers
// the metrics. It logs the identities of its API keys (names, roles,
// topics), or with none a warning: every route is open.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.Messages == nil || deps.Operations == nil || deps.Store == nil {
		return nil, errors.New("gateway needs the contract client, the operations and the message store")
	}
	allow, err := parseAllowList(cfg.CheckURLAllowHosts)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	allow.setting = cfg.CheckURLAllowSetting
	keys, err := access.NewKeyring(cfg.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	s := &Server{
		cfg: cfg,
		rules: rules{
			maxPayload:    cfg.MaxPayloadBytes,
			tolerance:     cfg.DeliverAtTolerance,
			allow:         allow,
			defaultPolicy: cfg.DefaultPolicy,
		},
		keys:     keys,
		throttle: deps.Throttle,
		messages: deps.Messages,
		ops:      deps.Operations,
		store:    deps.Store,
		console:  deps.Console,
		kafka:    deps.Kafka,
		logger:   deps.Logger,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.throttle == nil {
		if s.throttle, err = cfg.NewThrottle(s.logger); err != nil {
			return nil, fmt.Errorf("gateway config: %w", err)
		}
	}
	s.metrics, err = newMetrics(deps.Registry, s.throttle)
	if err != nil {
		return nil, err
	}
	if err := s.metrics.registry.Register(newMessageGauges(deps.Store, cfg.DefaultPolicy.CheckDelay, s.logger)); err != nil {
		return nil, fmt.Errorf("register message gauges: %w", err)
	}
	if s.keys.Open() {
		s.logger.Warn("gateway has no API keys: every /v1 route is open to anyone who can reach it")
	}
	// Which identities a stack runs with is the first question when a key
	// is refused; the summaries hold no key material.
	for _, id := range s.keys.Identities() {
		s.logger.Info("API identity loaded", "name", id.Name, "roles", id.Roles, "topics", id.Topics, "keys", id.Keys)
	}
	for i, k := range cfg.APIKeys {
		if k.Secret != "" {
			s.logger.Warn("an API key is configured in plain text; configure its hash instead (courier apikey hash)", "entry", i+1, "name", k.Name)
		}
	}
	if allow.empty() {
		s.logger.Warn("gateway allows no check URL host: prepare is refused, only direct send works" + allow.named())
	}
	s.echo = s.newEcho()
	return s, nil
}

// newEcho builds the echo instance with every route.
func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.trace, s.recoverPanic, secureHeaders)

	producer := s.authorize(access.Producer)
	consumer := s.authorize(access.Consumer)
	admin := s.authorize(access.Admin)
	// Reads are for admins, and for producers and consumers of their own
	// messages (decided by the handlers).
	reader := s.authorize(access.Producer, access.Consumer)
	e.POST("/v1/messages", s.prepare(false), producer)
	e.POST("/v1/messages/send", s.prepare(true), producer)
	e.GET("/v1/messages", s.list, producer)
	e.POST("/v1/messages/redrive", s.redriveDead, admin)
	e.GET("/v1/messages/:id", s.get, reader)
	e.POST("/v1/messages/:id/confirm", s.signalRoute(models.Confirm), producer)
	e.POST("/v1/messages/:id/cancel", s.signalRoute(models.Cancel), producer)
	e.POST("/v1/messages/:id/complete", s.signalRoute(models.Complete), consumer)
	e.POST("/v1/messages/:id/redrive", s.signalRoute(models.Redrive), admin)
	e.GET("/v1/stats", s.stats, admin)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	e.GET("/openapi.yaml", serveOpenAPI)

	for _, r := range e.Routes() {
		s.routes = append(s.routes, Route{Method: r.Method, Path: openAPIPath(r.Path)})
	}
	// The console's pages are not API routes: they are listed apart, and
	// counted in the metrics under consoleRoute. The console routes them
	// itself, as HTML pages with its own errors.
	if s.console != nil {
		e.GET("/console", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, console.Prefix) })
		e.Any(console.Prefix+"*", echo.WrapHandler(s.console))
	}
	return e
}

// openAPIPath turns echo's /v1/messages/:id into /v1/messages/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// Handler is the gateway as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the methods and paths the gateway serves.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Run serves on addr until ctx ends, then shuts down gracefully: it stops
// accepting connections and lets in-flight requests finish for up to 10 s.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.logger.Info("gateway listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("gateway on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("gateway shutdown on %s: %w", addr, err)
	}
	s.logger.Info("gateway stopped", "addr", addr)
	return nil
}

// secureHeaders marks every response as not to be cached or sniffed.
func secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		return next(c)
	}
}

// recoverPanic turns a handler's panic into a 500 (and a log line with the
// cause) instead of a dropped connection.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = internalError("request", fmt.Errorf("panic: %v", r))
			}
		}()
		return next(c)
	}
}
