package store

import (
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"
)

// sqliteDialector is a minimal GORM dialector over an already opened
// modernc.org/sqlite pool. It covers what the store's queries need; the schema
// comes from explicit DDL in sqlite.go, so GORM's generic migrator suffices.
type sqliteDialector struct {
	conn gorm.ConnPool
}

// Name implements gorm.Dialector.
func (sqliteDialector) Name() string { return "sqlite" }

// Initialize implements gorm.Dialector.
func (d sqliteDialector) Initialize(db *gorm.DB) error {
	db.ConnPool = d.conn
	callbacks.RegisterDefaultCallbacks(db, &callbacks.Config{LastInsertIDReversed: true})
	return nil
}

// Migrator implements gorm.Dialector.
func (d sqliteDialector) Migrator(db *gorm.DB) gorm.Migrator {
	return migrator.Migrator{Config: migrator.Config{DB: db, Dialector: d, CreateIndexAfterCreateTable: true}}
}

// DataTypeOf implements gorm.Dialector with SQLite's type affinities.
func (sqliteDialector) DataTypeOf(field *schema.Field) string {
	switch field.DataType {
	case schema.Bool, schema.Int, schema.Uint:
		return "integer"
	case schema.Float:
		return "real"
	case schema.String:
		return "text"
	case schema.Time:
		// Declared DATETIME so the driver scans the stored integers as time.Time.
		return "datetime"
	case schema.Bytes:
		return "blob"
	}
	return string(field.DataType)
}

// DefaultValueOf implements gorm.Dialector. SQLite has no DEFAULT keyword in
// VALUES lists.
func (sqliteDialector) DefaultValueOf(*schema.Field) clause.Expression {
	return clause.Expr{SQL: "NULL"}
}

// BindVarTo implements gorm.Dialector.
func (sqliteDialector) BindVarTo(writer clause.Writer, _ *gorm.Statement, _ any) {
	_ = writer.WriteByte('?')
}

// QuoteTo implements gorm.Dialector: each dot-separated part in backticks,
// with embedded backticks doubled.
func (sqliteDialector) QuoteTo(writer clause.Writer, str string) {
	for i, part := range strings.Split(str, ".") {
		if i > 0 {
			_ = writer.WriteByte('.')
		}
		_ = writer.WriteByte('`')
		_, _ = writer.WriteString(strings.ReplaceAll(part, "`", "``"))
		_ = writer.WriteByte('`')
	}
}

// Explain implements gorm.Dialector.
func (sqliteDialector) Explain(sql string, vars ...any) string {
	return logger.ExplainSQL(sql, nil, `'`, vars...)
}
