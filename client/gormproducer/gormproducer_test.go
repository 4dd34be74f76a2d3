package gormproducer_test

import (
	"errors"
	"testing"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/gormproducer"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/producertest"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/producer"
	"github.com/courier-mq/courier/client/wire"
)

var courier *devcourier.Courier

func TestMain(m *testing.M) { devcourier.RunTests(m, &courier) }

type payment struct {
	ID     string `gorm:"primaryKey;size:64"`
	Amount int
}

func TestGORMTransaction(t *testing.T) {
	for _, name := range []string{"mysql", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			var dialector gorm.Dialector = mysql.New(mysql.Config{Conn: db.DB})
			if name == "postgres" {
				dialector = postgres.New(postgres.Config{Conn: db.DB})
			}
			gdb, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if err := gdb.AutoMigrate(&payment{}); err != nil {
				t.Fatal(err)
			}
			c := courier.Client(t)
			p := producertest.New(t, c, db.DB, producer.Config{})
			later := &client.Policy{CheckDelay: time.Hour, CheckMaxDelay: time.Hour}

			ok := &client.Message{Topic: "gorm", Payload: []byte(`{}`), Policy: later}
			if err := gormproducer.Transaction(t.Context(), p, gdb, ok, func(tx *gorm.DB) error {
				return tx.Create(&payment{ID: "p-" + ok.ID, Amount: 42}).Error
			}); err != nil {
				t.Fatal(err)
			}
			if s, err := p.Check(t.Context(), ok.ID); s != "COMMITTED" || err != nil {
				t.Fatalf("committed: check-back %s, %v", s, err)
			}
			declined := errors.New("declined")
			bad := &client.Message{Topic: "gorm", Payload: []byte(`{}`), Policy: later}
			if err := gormproducer.Transaction(t.Context(), p, gdb, bad, func(tx *gorm.DB) error {
				if err := tx.Create(&payment{ID: "p-" + bad.ID}).Error; err != nil {
					return err
				}
				return declined
			}); !errors.Is(err, declined) {
				t.Fatalf("business error: %v", err)
			}
			if s, err := p.Check(t.Context(), bad.ID); s != "ROLLED_BACK" || err != nil {
				t.Fatalf("rolled back: check-back %s, %v", s, err)
			}
			var n int64
			gdb.Model(&payment{}).Count(&n)
			if n != 1 {
				t.Fatalf("%d payments, want the committed one", n)
			}
			devcourier.WaitStatus(t, c, ok.ID, wire.StatusDelivered)
			devcourier.WaitStatus(t, c, bad.ID, wire.StatusCancelled)
		})
	}
}
