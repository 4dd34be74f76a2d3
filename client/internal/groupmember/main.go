// Command groupmember is one member of a consumer group for the consumer
// package's group test: a client/consumer with the default configuration,
// in a process of its own, so that the test can kill it with kill -9 or
// freeze it with SIGSTOP as a crash or a stall of a real service would.
//
// Its handler writes one row per run into the effects table (run_id,
// message_id), in the consumer's transaction: a message handled twice shows
// as two rows with one message_id.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/consumer"
)

func main() {
	var (
		brokers = flag.String("brokers", "", "Kafka bootstrap brokers, comma-separated")
		topic   = flag.String("topic", "", "topic to read")
		group   = flag.String("group", "", "consumer group and consumer name")
		courier = flag.String("courier", "", "Courier's base URL")
		dsn     = flag.String("mysql", "", "MySQL DSN of the consumer's database")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*brokers, *topic, *group, *courier, *dsn, logger); err != nil {
		logger.Error("groupmember", "error", err)
		os.Exit(1)
	}
}

func run(brokers, topic, group, courierURL, dsn string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	cl, err := client.New(client.Config{URL: courierURL})
	if err != nil {
		return err
	}
	cons, err := consumer.New(consumer.Config{
		Brokers: strings.Split(brokers, ","), Topics: []string{topic}, Name: group,
		Courier: cl, DB: db, Logger: logger,
	})
	if err != nil {
		return err
	}
	// The run id is unique across processes, so that every run of the
	// handler leaves its own row.
	pid := fmt.Sprintf("%d-%s", os.Getpid(), rand.Text()[:6])
	var runs atomic.Int64
	return cons.Run(ctx, func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
		run := fmt.Sprintf("%s-%d", pid, runs.Add(1))
		_, err := tx.ExecContext(ctx, "INSERT INTO effects (run_id, message_id) VALUES (?, ?)", run, msg.ID)
		if err != nil {
			return err
		}
		// A handler that takes a while, as one with real work does, so
		// that kills land in the middle of transactions too.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
			return nil
		}
	})
}
