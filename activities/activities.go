package activities

import (
	"net/http"

	"github.com/IBM/sarama"
)

// Activities holds what the activities talk to. Register one value with the
// worker; workflows reference its methods through a nil *Activities, so the
// registered names are the method names.
type Activities struct {
	// Producer publishes messages; build it with NewProducer.
	Producer sarama.SyncProducer
	// Mirror is the messages table.
	Mirror Mirror
	// HTTP makes check-back calls; build it with NewCheckClient so that
	// redirects are never followed.
	HTTP *http.Client
	// MaxCheckBody is how many bytes of a check-back answer are read; a longer
	// answer is malformed. Zero means DefaultMaxCheckBody.
	MaxCheckBody int64
	// Purger deletes settled rows for retention (PurgeMirror); nil makes
	// PurgeMirror fail for good.
	Purger Purger
	// Purged, when set, is told every batch PurgeMirror deleted, for the
	// metrics.
	Purged func(rows int64)
}
