package store

// HoldTransactions takes every transaction slot of g, so that writes given to
// it queue, and returns what gives them back: the next batch then carries
// everything queued.
func HoldTransactions(g *Grouper) (release func()) {
	for range cap(g.slots) {
		g.slots <- struct{}{}
	}
	return func() {
		for range cap(g.slots) {
			<-g.slots
		}
	}
}

// Queued is how many writes wait in g's queue.
func Queued(g *Grouper) int { return len(g.jobs) }
