package event

import "testing"

// BenchmarkParse classifies a mix of golden events.
func BenchmarkParse(b *testing.B) {
	cases := goldenCases()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range cases {
			if _, err := Parse(c.raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(cases))/b.Elapsed().Seconds(), "events/s")
}
