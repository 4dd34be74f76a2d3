// Payment is the upstream example service: POST /pay marks an order paid in
// its own database and, in the same transaction, makes Courier deliver the
// payment to accounting. Courier's check-back comes to /courier/check.
//
//	go -C examples run ./payment      # against `courier dev` on 127.0.0.1:8080
//
// Every setting is a flag or, when the flag is not given, an environment
// variable: the service's own PAYMENT_*, and COURIER_URL and COURIER_API_KEY
// for Courier; -h lists them. The database defaults to a file in the user's
// cache directory, never the source tree, and is printed at start.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	_ "modernc.org/sqlite"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/producer"
	"github.com/courier-mq/courier/examples/internal/settings"
	"github.com/courier-mq/courier/examples/internal/telemetry"
)

// payment is the body of POST /pay and the message accounting receives.
type payment struct {
	OrderID string `json:"order_id"`
	Amount  int64  `json:"amount"` // cents; 0 or less is declined
}

func main() {
	addr := flag.String("addr", settings.Env("PAYMENT_ADDR", "127.0.0.1:8081"), "listen address (PAYMENT_ADDR)")
	dbPath := flag.String("db", settings.Env("PAYMENT_DB", settings.DataFile("payment.db")), "SQLite database file (PAYMENT_DB)")
	courierURL := flag.String("courier", settings.Env("COURIER_URL", "http://127.0.0.1:8080"), "Courier gateway (COURIER_URL)")
	apiKey := flag.String("api-key", settings.Env("COURIER_API_KEY", ""), "Courier API key, producer role (COURIER_API_KEY)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dbPath, *courierURL, *apiKey); err != nil {
		slog.Error("payment", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, dbPath, courierURL, apiKey string) error {
	stopTracing, err := telemetry.Setup(ctx, "payment")
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
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)`); err != nil {
		return err
	}

	// Courier: a client, and a producer whose barrier table is in this
	// database.
	courier, err := client.New(client.Config{URL: courierURL, APIKey: apiKey})
	if err != nil {
		return err
	}
	pay, err := producer.New(courier, db, producer.Config{CheckURL: "http://" + addr + "/courier/check", Producer: "payment"})
	if err != nil {
		return err
	}
	if err := pay.Migrate(ctx); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /courier/check", pay.CheckHandler())

	mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
		var p payment
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.OrderID == "" {
			http.Error(w, "body must be {\"order_id\": ..., \"amount\": ...}", http.StatusBadRequest)
			return
		}
		body, _ := json.Marshal(p)
		msg := &client.Message{Topic: "payments", Key: p.OrderID, Payload: body}
		err := pay.Transaction(r.Context(), msg, func(tx *sql.Tx) error {
			if p.Amount <= 0 {
				return errDeclined
			}
			_, err := tx.ExecContext(r.Context(), `INSERT INTO orders (id, amount) VALUES (?, ?)`, p.OrderID, p.Amount)
			return err
		})
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"order_id": p.OrderID, "status": "paid", "message_id": msg.ID})
		case errors.Is(err, errDeclined):
			writeJSON(w, http.StatusPaymentRequired, map[string]string{"order_id": p.OrderID, "status": "declined", "message_id": msg.ID})
		case paidAlready(r.Context(), db, p.OrderID):
			writeJSON(w, http.StatusConflict, map[string]string{"order_id": p.OrderID, "status": "paid already"})
		default:
			slog.Warn("payment failed", "order", p.OrderID, "error", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})

	srv := &http.Server{Addr: addr, Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	slog.Info("payment service listening", "addr", addr, "db", dbPath, "courier", courierURL)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var errDeclined = errors.New("payment declined")

func paidAlready(ctx context.Context, db *sql.DB, orderID string) bool {
	var n int
	return db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE id = ?`, orderID).Scan(&n) == nil && n > 0
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
