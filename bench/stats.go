package bench

import (
	"slices"
	"sync"
	"time"
)

// Summary is the distribution of one latency: how many were measured and
// their percentiles.
type Summary struct {
	Count int
	P50   time.Duration
	P95   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize returns the nearest-rank percentiles of ds; the zero Summary when
// ds is empty. ds is not modified.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return Summary{
		Count: len(sorted),
		P50:   percentile(sorted, 50),
		P95:   percentile(sorted, 95),
		P99:   percentile(sorted, 99),
		Max:   sorted[len(sorted)-1],
	}
}

// percentile is the nearest-rank p-th percentile of sorted, which is not
// empty: the smallest value at or below which p percent of the values lie.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// recorder collects the latencies of one stage from many goroutines.
type recorder struct {
	mu sync.Mutex
	ds []time.Duration
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
}

func (r *recorder) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summarize(r.ds)
}

// LongestGap is the longest time between two consecutive instants of ts
// (taken in time order; ts is not modified), and 0 for fewer than two. Over
// the instants messages reached Kafka it is the longest time a run delivered
// nothing: a stall that percentiles of a few hundred messages can hide.
func LongestGap(ts []time.Time) time.Duration {
	sorted := slices.Clone(ts)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	for i := 1; i < len(sorted); i++ {
		longest = max(longest, sorted[i].Sub(sorted[i-1]))
	}
	return longest
}
