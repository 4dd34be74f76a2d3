// Package gormproducer runs a producer.Transaction in a GORM transaction,
// for services whose business code uses GORM. Build the producer over the
// same database (db.DB()), so that its check-back handler reads the barrier
// rows these transactions write.
package gormproducer

import (
	"context"
	"database/sql"

	"gorm.io/gorm"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/producer"
)

// Transaction is producer.Producer.Transaction with a GORM transaction of
// db: business gets the transaction to run its queries on.
func Transaction(ctx context.Context, p *producer.Producer, db *gorm.DB, msg *client.Message, business func(tx *gorm.DB) error) error {
	var tx *gorm.DB
	begin := func(ctx context.Context) (producer.Tx, error) {
		tx = db.WithContext(ctx).Begin()
		return gormTx{tx}, tx.Error
	}
	return p.Run(ctx, msg, begin, func(context.Context) error { return business(tx) })
}

// gormTx is a GORM transaction as a producer.Tx.
type gormTx struct{ tx *gorm.DB }

func (t gormTx) Exec(ctx context.Context, query string, args ...any) error {
	return t.tx.WithContext(ctx).Exec(query, args...).Error
}
func (t gormTx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.WithContext(ctx).Raw(query, args...).Row()
}
func (t gormTx) Commit() error   { return t.tx.Commit().Error }
func (t gormTx) Rollback() error { return t.tx.Rollback().Error }
