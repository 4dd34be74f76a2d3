package gateway

import (
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/tracing"
)

// trace continues the caller's W3C trace (traceparent, tracestate) on every
// /v1 call in a server span named after the route ("POST
// /v1/messages/{id}/confirm"). The request's context carries the span on:
// a prepare or send stores it in the message (contract.Input.Trace), and
// the Temporal client's interceptor passes it with a start, signal or
// update. With tracing off the span is the API's no-op, which still carries
// the caller's trace context through.
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Path()
		if !strings.HasPrefix(route, "/v1/") {
			return next(c)
		}
		req := c.Request()
		route = openAPIPath(route)
		ctx := tracing.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := tracing.Tracer().Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(req.Method), semconv.HTTPRoute(route)))
		defer span.End()
		if id := c.Param("id"); id != "" {
			span.SetAttributes(attribute.String("courier.message.id", id))
		}
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if err != nil {
			// The error handler has not answered yet; the error is what
			// it will answer with.
			span.SetStatus(codes.Error, err.Error())
			return err
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(c.Response().Status))
		if c.Response().Status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		return nil
	}
}
