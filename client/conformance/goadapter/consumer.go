package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/consumer"
)

// runningConsumer is a consumer started by consume.
type runningConsumer struct {
	stop func()
	done chan error
}

// consume starts a consumer named req.Name whose handler does what
// req.Handler says; it answers once the consumer runs.
func (a *adapter) consume(req protocol.Request) (any, error) {
	side, err := a.side()
	if err != nil {
		return nil, err
	}
	if req.Handler == nil {
		return nil, errors.New("consume needs a handler")
	}
	c, err := consumer.New(consumer.Config{
		Brokers: req.Brokers, Topics: req.Topics, Name: req.Name,
		Courier: side.courier, DB: side.db, Dialect: side.dialect,
		Table: side.dedupeTable, Attempts: req.Attempts,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Migrate(context.Background()); err != nil {
		return nil, err
	}
	h := req.Handler
	effect := side.placeholders(h.EffectSQL)
	handler := func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
		if slices.Contains(h.FailIDs, msg.ID) && msg.Attempt <= h.FailSends {
			return fmt.Errorf("the handler fails message %s on send %d", msg.ID, msg.Attempt)
		}
		_, err := tx.ExecContext(ctx, effect, req.Name, msg.ID, msg.Attempt)
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &runningConsumer{stop: stop, done: make(chan error, 1)}
	if _, loaded := a.consumers.LoadOrStore(req.Ref, r); loaded {
		stop()
		return nil, fmt.Errorf("consumer %q runs already", req.Ref)
	}
	go func() { r.done <- c.Run(ctx, handler) }()
	return struct{}{}, nil
}

// stopConsumer stops consumer req.Ref gracefully and answers when it
// returned.
func (a *adapter) stopConsumer(req protocol.Request) (any, error) {
	v, ok := a.consumers.LoadAndDelete(req.Ref)
	if !ok {
		return nil, fmt.Errorf("no consumer %q", req.Ref)
	}
	r := v.(*runningConsumer)
	r.stop()
	return struct{}{}, <-r.done
}
