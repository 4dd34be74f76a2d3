package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// mirrorBundle runs WriteMirror against a real store.
type mirrorBundle struct {
	store *store.Store
	acts  *activities.Activities
	env   *testsuite.TestActivityEnvironment
}

func setupMirror(t *testing.T) *mirrorBundle {
	t.Helper()
	store := storetest.NewSQLite(t)
	acts := &activities.Activities{Mirror: store}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &mirrorBundle{store: store, acts: acts, env: env}
}

// write runs the WriteMirror activity the way a worker would.
func (b *mirrorBundle) write(in activities.MirrorInput) error {
	_, err := b.env.ExecuteActivity(b.acts.WriteMirror, in)
	return err
}

// get reads the row of message id.
func (b *mirrorBundle) get(t *testing.T, id string) *models.Message {
	t.Helper()
	m, err := b.store.Get(context.Background(), id)
	require.NoError(t, err)
	return m
}

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// prepared is the first write of a message: its row as prepared.
func prepared(id string) *models.Message {
	return &models.Message{
		ID: id, Topic: "orders", Key: "k", Payload: []byte(`{"n":1}`), Producer: "billing",
		CheckURL: "http://billing/check", Status: wire.StatusWaitingConfirm,
		CreatedAt: created, UpdatedAt: created, Revision: 1,
	}
}

// transition moves message id to status at revision rev.
func transition(id string, rev int64, status wire.Status) models.Transition {
	return models.Transition{
		ID: id, Revision: rev, Status: status, CheckCount: int(rev),
		UpdatedAt: created.Add(time.Duration(rev) * time.Second),
	}
}

func TestWriteMirrorCreatesThenApplies(t *testing.T) {
	t.Parallel()
	b := setupMirror(t)

	in := activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 1, wire.StatusWaitingConfirm)}
	require.NoError(t, b.write(in))
	row := b.get(t, "m-1")
	require.Equal(t, wire.StatusWaitingConfirm, row.Status)
	require.EqualValues(t, 1, row.Revision)
	require.Equal(t, []byte(`{"n":1}`), row.Payload)

	// A retry of the first write (its success was lost) changes nothing.
	require.NoError(t, b.write(in))
	require.EqualValues(t, 1, b.get(t, "m-1").Revision)

	// The first write may also carry the next transition already.
	in = activities.MirrorInput{Create: prepared("m-2"), Transition: transition("m-2", 2, wire.StatusSending)}
	require.NoError(t, b.write(in))
	row = b.get(t, "m-2")
	require.Equal(t, wire.StatusSending, row.Status)
	require.EqualValues(t, 2, row.Revision)
	require.Equal(t, "orders", row.Topic)
}

func TestWriteMirrorRetriesApplyBeforeCreate(t *testing.T) {
	t.Parallel()
	b := setupMirror(t)

	// The transition overtook the write that creates the row.
	later := activities.MirrorInput{Transition: transition("m-1", 2, wire.StatusScheduled)}
	err := b.write(later)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.False(t, appErr.NonRetryable(), "the row may be created any moment: retry")
	require.ErrorContains(t, err, "mirror m-1: row not created yet")

	// Once the create lands, the retry applies.
	require.NoError(t, b.write(activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 1, wire.StatusWaitingConfirm)}))
	require.NoError(t, b.write(later))
	require.Equal(t, wire.StatusScheduled, b.get(t, "m-1").Status)
}

func TestWriteMirrorIgnoresStaleTransition(t *testing.T) {
	t.Parallel()
	b := setupMirror(t)

	require.NoError(t, b.write(activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 3, wire.StatusDelivered)}))
	// Revision 2 arrives late: a success that leaves the row alone.
	require.NoError(t, b.write(activities.MirrorInput{Transition: transition("m-1", 2, wire.StatusSending)}))
	row := b.get(t, "m-1")
	require.Equal(t, wire.StatusDelivered, row.Status)
	require.EqualValues(t, 3, row.Revision)
}

func TestWriteMirrorRetriesDatabaseErrors(t *testing.T) {
	t.Parallel()
	b := setupMirror(t)
	db, err := b.store.DB().DB()
	require.NoError(t, err)
	require.NoError(t, db.Close())

	err = b.write(activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 1, wire.StatusWaitingConfirm)})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.False(t, appErr.NonRetryable())
	require.ErrorContains(t, err, "mirror m-1: insert message m-1")
}

// countingMirror counts the store calls a write makes.
type countingMirror struct {
	activities.Mirror
	inserts, applies int
}

func (c *countingMirror) Insert(ctx context.Context, m *models.Message) (bool, error) {
	c.inserts++
	return c.Mirror.Insert(ctx, m)
}

func (c *countingMirror) Apply(ctx context.Context, t models.Transition) (bool, error) {
	c.applies++
	return c.Mirror.Apply(ctx, t)
}

func TestFirstWriteIsOneStatement(t *testing.T) {
	// Every message's first write creates its row; it is a third of the
	// mirror's writes in a message's life, so it is one INSERT that already
	// holds the transition, not an INSERT and an UPDATE.
	t.Parallel()
	b := setupMirror(t)
	count := &countingMirror{Mirror: b.store}
	b.acts.Mirror = count

	in := activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 3, wire.StatusDelivered)}
	require.NoError(t, b.write(in))
	require.Equal(t, 1, count.inserts)
	require.Equal(t, 0, count.applies, "a created row holds the transition already")
	row := b.get(t, "m-1")
	require.Equal(t, wire.StatusDelivered, row.Status)
	require.EqualValues(t, 3, row.Revision)
	require.EqualValues(t, 3, row.CheckCount)
	require.True(t, row.UpdatedAt.Equal(in.Transition.UpdatedAt), "updated_at %v", row.UpdatedAt)
	require.True(t, row.StatusAt.Equal(in.Transition.UpdatedAt), "a status entered by the transition starts then: %v", row.StatusAt)
	require.True(t, row.CreatedAt.Equal(created))

	// The transition of the created row's own status leaves its status_at
	// at the creation, as a later write of the same status does.
	in = activities.MirrorInput{Create: prepared("m-2"), Transition: transition("m-2", 1, wire.StatusWaitingConfirm)}
	require.NoError(t, b.write(in))
	require.True(t, b.get(t, "m-2").StatusAt.Equal(created), "status_at %v", b.get(t, "m-2").StatusAt)

	// A retried first write finds the row and applies the transition as any
	// later write does.
	count.inserts, count.applies = 0, 0
	in = activities.MirrorInput{Create: prepared("m-1"), Transition: transition("m-1", 4, wire.StatusCompleted)}
	require.NoError(t, b.write(in))
	require.Equal(t, 1, count.inserts)
	require.Equal(t, 1, count.applies)
	require.Equal(t, wire.StatusCompleted, b.get(t, "m-1").Status)
}
