package sharedstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
)

// BenchmarkCreate measures records created per second in the shared
// store: 16 writers at once, each create a name claim, a certificate and a
// record (three conditional PUTs). Certificates are made beforehand, so
// this is the store's cost, not signing's.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	st, _, _ := newStore(b)
	type item struct {
		rec *pki.Record
		pem []byte
	}
	items := make([]item, b.N)
	for i := range items {
		items[i].rec, items[i].pem = newCert(pki.KindClient, fmt.Sprintf("bench-%d", i), "")
	}
	var next atomic.Int64
	b.SetParallelism(8) // x GOMAXPROCS (2 here): 16 writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			it := items[next.Add(1)-1]
			if _, err := st.Create(ctx, it.rec, it.pem); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkList10000 lists a store of 10,000 records: ten pages of keys
// and 10,000 GETs, 64 at a time.
func BenchmarkList10000(b *testing.B) {
	ctx := context.Background()
	st, _, _ := newStore(b)
	const n = 10000
	var wg sync.WaitGroup
	var idx atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := idx.Add(1) - 1; i < n; i = idx.Add(1) - 1 {
				rec, pemData := newCert(pki.KindClient, fmt.Sprintf("list-%05d", i), "")
				if _, err := st.Create(ctx, rec, pemData); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, par := range []int{16, 64} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			ls := *st
			ls.Parallel = par
			ls.NoSnapshot = true // a GET per record
			for b.Loop() {
				recs, err := ls.List(ctx)
				if err != nil || len(recs) != n {
					b.Fatalf("List = %d records, %v", len(recs), err)
				}
			}
		})
	}
	// Cold (no listing cache) with the shared snapshot an earlier listing
	// wrote: ten LIST pages and one GET.
	b.Run("snapshot", func(b *testing.B) {
		ls := *st
		if _, err := ls.List(ctx); err != nil { // writes the snapshot
			b.Fatal(err)
		}
		for b.Loop() {
			recs, err := ls.List(ctx)
			if err != nil || len(recs) != n {
				b.Fatalf("List = %d records, %v", len(recs), err)
			}
		}
	})
	// With the listing cache warm: ten LIST pages, no GET.
	b.Run("cached", func(b *testing.B) {
		ls := *st
		ls.Cache = sharedstore.NewCache()
		if _, err := ls.List(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			recs, err := ls.List(ctx)
			if err != nil || len(recs) != n {
				b.Fatalf("List = %d records, %v", len(recs), err)
			}
		}
	})
}

// BenchmarkMigrate300 migrates a PKI directory of 300 clients into a fresh
// prefix per iteration.
func BenchmarkMigrate300(b *testing.B) {
	ctx := context.Background()
	dir := localPKI(b, 300)
	st, _, _ := newStore(b)
	i := 0
	for b.Loop() {
		to := *st
		to.Prefix = fmt.Sprintf("m%d/", i)
		i++
		res, err := sharedstore.Migrate(ctx, dir, &to)
		if err != nil || res.Moved != 302 {
			b.Fatalf("Migrate: %+v, %v", res, err)
		}
	}
	b.ReportMetric(302*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
