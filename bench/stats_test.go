package bench

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSummarizeNearestRank(t *testing.T) {
	t.Parallel()
	// 1..100 ms in random order: the p-th percentile is p ms.
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	rand.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	first := ds[0]

	s := Summarize(ds)
	require.Equal(t, Summary{Count: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond,
		P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}, s)
	require.Equal(t, first, ds[0], "Summarize must not reorder its input")
}

func TestSummarizeSmallSamples(t *testing.T) {
	t.Parallel()
	require.Equal(t, Summary{}, Summarize(nil))

	one := Summarize([]time.Duration{7 * time.Millisecond})
	require.Equal(t, Summary{Count: 1, P50: 7 * time.Millisecond, P95: 7 * time.Millisecond,
		P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}, one)

	// With 10 values the 99th percentile is the largest and the median the 5th.
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(10-i) * time.Second
	}
	s := Summarize(ten)
	require.Equal(t, 5*time.Second, s.P50)
	require.Equal(t, 10*time.Second, s.P95)
	require.Equal(t, 10*time.Second, s.P99)
}

func BenchmarkSummarize(b *testing.B) {
	ds := make([]time.Duration, 10000)
	for i := range ds {
		ds[i] = time.Duration(rand.Int64N(int64(time.Second)))
	}
	for b.Loop() {
		Summarize(ds)
	}
}

func TestLongestGap(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	require.Zero(t, LongestGap(nil))
	require.Zero(t, LongestGap([]time.Time{at(5)}))

	// Out of order, with a 4 s hole between 1.2 s and 5.2 s.
	ts := []time.Time{at(5200), at(0), at(1200), at(300), at(5300), at(1000)}
	require.Equal(t, 4*time.Second, LongestGap(ts))
	require.Equal(t, at(5200), ts[0], "LongestGap must not reorder its input")
}
