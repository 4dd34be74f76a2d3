// Accounting is the downstream example service: it books one voucher per
// payment Courier delivers, exactly once, in its own database.
//
//	go -C examples run ./accounting   # against `courier dev` (Kafka on 127.0.0.1:9092)
//
// Every setting is a flag or, when the flag is not given, an environment
// variable: the service's own ACCOUNTING_*, and COURIER_URL,
// COURIER_KAFKA_BROKERS and COURIER_API_KEY for Courier; -h lists them. The
// database defaults to a file in the user's cache directory, never the
// source tree, and is printed at start.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	_ "modernc.org/sqlite"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/consumer"
	"github.com/courier-mq/courier/examples/internal/settings"
	"github.com/courier-mq/courier/examples/internal/telemetry"
)

func main() {
	dbPath := flag.String("db", settings.Env("ACCOUNTING_DB", settings.DataFile("accounting.db")), "SQLite database file (ACCOUNTING_DB)")
	courierURL := flag.String("courier", settings.Env("COURIER_URL", "http://127.0.0.1:8080"), "Courier gateway (COURIER_URL)")
	kafka := flag.String("kafka", settings.Env("COURIER_KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka brokers, comma-separated (COURIER_KAFKA_BROKERS)")
	apiKey := flag.String("api-key", settings.Env("COURIER_API_KEY", ""), "Courier API key, consumer role (COURIER_API_KEY)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dbPath, *courierURL, *kafka, *apiKey); err != nil {
		slog.Error("accounting", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dbPath, courierURL, kafka, apiKey string) error {
	stopTracing, err := telemetry.Setup(ctx, "accounting")
	if err != nil {
		return err
	}
	defer stopTracing()
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS vouchers (
		order_id TEXT PRIMARY KEY, message_id TEXT NOT NULL, amount INTEGER NOT NULL)`); err != nil {
		return err
	}

	// Courier: a client for the completes, and a consumer whose dedupe
	// table is in this database.
	courier, err := client.New(client.Config{URL: courierURL, APIKey: apiKey})
	if err != nil {
		return err
	}
	payments, err := consumer.New(consumer.Config{
		Brokers: strings.Split(kafka, ","), Topics: []string{"payments"}, Name: "accounting",
		Courier: courier, DB: db,
	})
	if err != nil {
		return err
	}
	if err := payments.Migrate(ctx); err != nil {
		return err
	}

	slog.Info("accounting service consuming", "kafka", kafka, "db", dbPath, "courier", courierURL)
	return payments.Run(ctx, func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
		var p struct {
			OrderID string `json:"order_id"`
			Amount  int64  `json:"amount"`
		}
		if err := json.Unmarshal(msg.Payload, &p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO vouchers (order_id, message_id, amount) VALUES (?, ?, ?)`, p.OrderID, msg.ID, p.Amount)
		return err
	})
}
