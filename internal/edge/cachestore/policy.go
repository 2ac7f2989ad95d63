package cachestore

import (
	"math/rand/v2"
	"sync/atomic"
)

// The eviction policy is W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU:
// A Highly Efficient Cache Admission Policy", §4,
// https://arxiv.org/abs/1512.00727), weighted by bytes:
//
//   - A new object enters the window, a small LRU (1% of MaxBytes) that
//     lets a burst of recent requests build up frequency.
//   - An object pushed out of the window becomes a candidate for the main
//     space, a segmented LRU: probation (20%) and protected (80%). A hit
//     in probation promotes the object to protected; protected overflow
//     is demoted back to the head of probation.
//   - While the store is over MaxBytes, the oldest candidate is compared
//     with the main space's victim (the LRU end of probation, else of
//     protected): the candidate is admitted, and the victim evicted, only
//     if the sketch estimates the candidate more frequent. Otherwise the
//     candidate is dropped. A one-time scan of cold keys therefore passes
//     through the window and never displaces the popular working set.

// region is the segment an entry lives in.
type region uint8

const (
	regionNone region = iota // removed
	regionWindow
	regionProbation
	regionProtected
)

// entry is the Store's bookkeeping for one object.
type entry struct {
	obj       *Object // nil once removed; written under Store.mu and the shard lock, read under either
	key       string
	hash      uint64 // Store.hash of key
	uriHash   uint64 // Store.uriHash of the object's URI: its shard and slot
	size      int64
	prev      *entry
	next      *entry
	region    region // written under Store.mu
	candidate bool   // pushed out of the window in the current maintenance
	// hitPending is set while a hit on this entry waits in its shard's
	// buffer: further hits need not wait there too (one moves the entry
	// to the front as well as many), so a popular object's hits mostly
	// skip the buffer's lock.
	hitPending atomic.Bool
	// self holds only this entry, never written after Put: the array of
	// a slot's list that holds only this entry, as most do, so that it
	// needs no allocation of its own (see slot.go).
	self [1]*entry
}

// list returns the list of e alone.
func (e *entry) list() []*entry { return e.self[:] }

// lru is an intrusive doubly linked list of entries, most recent first,
// with the sum of their sizes.
type lru struct {
	root  entry
	bytes int64
}

func (l *lru) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lru) pushFront(e *entry) {
	e.prev, e.next = &l.root, l.root.next
	e.prev.next, e.next.prev = e, e
	l.bytes += e.size
}

func (l *lru) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	l.bytes -= e.size
}

func (l *lru) moveToFront(e *entry) {
	l.remove(e)
	l.pushFront(e)
}

// back returns the least recent entry, or nil.
func (l *lru) back() *entry {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

// policy is the W-TinyLFU state. It is guarded by Store.mu.
type policy struct {
	window, probation, protected lru
	max, windowMax, protectedMax int64
}

func (p *policy) init(maxBytes int64) {
	p.window.init()
	p.probation.init()
	p.protected.init()
	p.max = maxBytes
	p.windowMax = max(maxBytes/100, 1)
	p.protectedMax = (maxBytes - p.windowMax) * 8 / 10
}

func (p *policy) bytes() int64 {
	return p.window.bytes + p.probation.bytes + p.protected.bytes
}

func (p *policy) list(r region) *lru {
	switch r {
	case regionWindow:
		return &p.window
	case regionProbation:
		return &p.probation
	case regionProtected:
		return &p.protected
	}
	return nil
}

// add puts e at the head of region r.
func (p *policy) add(e *entry, r region) {
	e.region = r
	p.list(r).pushFront(e)
}

// unlink takes e out of its region.
func (p *policy) unlink(e *entry) {
	if l := p.list(e.region); l != nil {
		l.remove(e)
	}
	e.region = regionNone
}

// onHit records a hit on e: the window and protected move it to their
// head; probation promotes it to protected, demoting protected overflow.
func (p *policy) onHit(e *entry) {
	switch e.region {
	case regionWindow:
		p.window.moveToFront(e)
	case regionProtected:
		p.protected.moveToFront(e)
	case regionProbation:
		p.probation.remove(e)
		p.add(e, regionProtected)
		for p.protected.bytes > p.protectedMax {
			d := p.protected.back()
			p.protected.remove(d)
			p.add(d, regionProbation)
		}
	}
}

// victim returns the main-space entry to compare a candidate with: the
// LRU end of probation unless it is a candidate (then probation holds only
// candidates), else the LRU end of protected; nil if there is none.
func (p *policy) victim() *entry {
	if v := p.probation.back(); v != nil && !v.candidate {
		return v
	}
	return p.protected.back()
}

// maintainLocked moves the window's overflow into probation as candidates
// and evicts until the store is within MaxBytes, letting the sketch decide
// between each candidate and the victim. It returns the stored objects it
// evicted and whether added (the entry the caller just put, or nil) is
// still stored. The caller holds s.mu.
func (s *Store) maintainLocked(added *entry) (evicted []*Object, kept bool) {
	p := &s.pol
	var cands []*entry
	for p.window.bytes > p.windowMax {
		c := p.window.back()
		p.window.remove(c)
		p.add(c, regionProbation)
		c.candidate = true
		cands = append(cands, c)
	}
	kept = true
	for p.bytes() > p.max {
		for len(cands) > 0 && cands[0].region == regionNone {
			cands = cands[1:]
		}
		var cand *entry
		if len(cands) > 0 {
			cand = cands[0]
		}
		v := p.victim()
		drop := v
		switch {
		case cand == nil && v == nil:
			drop = p.window.back() // unreachable: the window alone is within windowMax < max
		case cand == nil:
		case v == nil: // the main space holds only candidates: plain overflow
			drop, cands = cand, cands[1:]
		case !s.admit(cand, v):
			drop, cands = cand, cands[1:]
			s.rejected.Add(1)
		}
		if drop == nil {
			break
		}
		if drop == added {
			kept = false
			s.removeLocked(drop)
			continue
		}
		evicted = append(evicted, drop.obj)
		s.evictions.Add(1)
		s.removeLocked(drop)
	}
	for _, c := range cands {
		c.candidate = false
	}
	return evicted, kept
}

// admit reports whether candidate c should replace victim v: TinyLFU's
// frequency comparison, where a tie keeps the victim (it has proved
// itself). Variants of one key share a frequency, so a new variant of a
// key is admitted over an older one.
//
// As in Caffeine, a candidate seen at least admitFloor times is also
// admitted at random, once in 128, whatever the victim's count: the
// counters saturate at 15, so a new hot set requested as often as the old
// one would otherwise tie with it, and wait for the sketch to age (10 ×
// its capacity in requests), before it could take its place; and keys
// whose counters an attacker inflated cannot hold their place for ever.
// One-hit keys (a scan, a flood of new URLs) stay below the floor.
func (s *Store) admit(c, v *entry) bool {
	if c.key == v.key {
		return true
	}
	cf := s.sketch.estimate(c.hash)
	switch {
	case cf > s.sketch.estimate(v.hash):
		return true
	case cf >= admitFloor:
		return rand.Uint32()&127 == 0
	}
	return false
}

// admitFloor is the estimate from which a candidate may be admitted at
// random (Caffeine's ADMIT_HASHDOS_THRESHOLD).
const admitFloor = 6
