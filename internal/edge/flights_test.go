package edge

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
)

// TestFlightsCollapse: on one key, the first join leads and the others
// wait for its landing and get its object; other keys fly on their own.
func TestFlightsCollapse(t *testing.T) {
	f := newFlights()
	fl, leader := f.join("k")
	if !leader || fl == nil {
		t.Fatal("the first join on a key does not lead")
	}
	if _, leader := f.join("j"); !leader {
		t.Fatal("a join on another key waits")
	}
	obj := &cachestore.Object{Key: "k"}
	var got atomic.Pointer[cachestore.Object]
	var wg sync.WaitGroup
	for range 4 {
		wfl, leader := f.join("k")
		if leader || wfl != fl {
			t.Fatal("a join on a key in flight leads")
		}
		wg.Go(func() {
			select {
			case <-wfl.done:
				got.Store(wfl.obj)
			case <-time.After(5 * time.Second):
			}
		})
	}
	f.land("k", fl, obj)
	wg.Wait()
	if got.Load() != obj {
		t.Fatal("a waiter did not get the leader's object")
	}
	if _, leader := f.join("k"); !leader {
		t.Fatal("after the landing, a join on the key waits")
	}
}

// BenchmarkFlights measures a miss's join and land, on keys that differ,
// from as many goroutines as -cpu: what misses on different keys share.
func BenchmarkFlights(b *testing.B) {
	f := newFlights()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		prefix := "/static/p" + strconv.FormatInt(n.Add(1), 10) + "-"
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = prefix + strconv.Itoa(i)
		}
		for i := 0; pb.Next(); i++ {
			k := keys[i&1023]
			fl, _ := f.join(k)
			f.land(k, fl, nil)
		}
	})
}
