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
