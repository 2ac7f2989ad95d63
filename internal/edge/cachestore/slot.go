package cachestore

import "iter"

// A shard finds its entries by the hash of their URI (Store.uriHash): a
// slot holds every key and variant stored for one URI, and for any other
// URI with the same hash, which lookups tell apart by comparing keys
// whole. So the map that finds a key for a request is also the index that
// finds a URI for an invalidation, and storing or evicting an object
// touches one map, not two.

// slotListMax is how many entries a slot keeps in a list that lookups scan
// whole. A URI with more (a behavior that keys a cookie or a header with
// many values) has its entries found by key hash instead, so that no
// request can make a lookup long.
const slotListMax = 8

// MaxVariants is how many variants a key keeps. A response with Vary on
// a header the behavior forwards without keying it makes a new variant for
// every value a client sends, and a lookup looks at every variant of its
// key: past MaxVariants, a new variant replaces the oldest one of the key,
// so that no client can make lookups long (Fastly caps variations too).
const MaxVariants = 32

// slot holds the entries of the URIs whose hash is its key in a shard's
// map.
type slot struct {
	// list holds the entries while there are at most slotListMax.
	list []*entry
	// byKey holds them by Store.hash of their key once there were more;
	// list is then nil.
	byKey map[uint64][]*entry
}

// lookup returns the entries that may be stored under the key with hash h.
func (sl slot) lookup(h uint64) []*entry {
	if sl.byKey != nil {
		return sl.byKey[h]
	}
	return sl.list
}

// all yields every entry of the slot.
func (sl slot) all() iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		for _, e := range sl.list {
			if !yield(e) {
				return
			}
		}
		for _, es := range sl.byKey {
			for _, e := range es {
				if !yield(e) {
					return
				}
			}
		}
	}
}

// len returns the number of entries.
func (sl slot) len() int {
	n := len(sl.list)
	for _, es := range sl.byKey {
		n += len(es)
	}
	return n
}

// put stores e in the slot and returns the slot to keep in the map. It
// returns the entry e replaces, with the same key and variant, or else,
// when e's key already has MaxVariants variants, the oldest of them, which
// it drops; nil when there was neither.
func (sl slot) put(e *entry) (slot, *entry) {
	if sl.byKey == nil {
		if i, oldest := sameEntry(sl.list, e); i >= 0 || oldest >= 0 {
			if i < 0 {
				i = oldest
			}
			old := sl.list[i]
			sl.list = replaceEntry(sl.list, i, e)
			return sl, old
		}
		if len(sl.list) < slotListMax {
			sl.list = appendEntry(sl.list, e)
			return sl, nil
		}
		sl.byKey = make(map[uint64][]*entry, 2*slotListMax)
		for _, c := range sl.list {
			sl.byKey[c.hash] = appendEntry(sl.byKey[c.hash], c)
		}
		sl.list = nil
	}
	es := sl.byKey[e.hash]
	if i, oldest := sameEntry(es, e); i >= 0 || oldest >= 0 {
		if i < 0 {
			i = oldest
		}
		old := es[i]
		sl.byKey[e.hash] = replaceEntry(es, i, e)
		return sl, old
	}
	sl.byKey[e.hash] = appendEntry(es, e)
	return sl, nil
}

// remove takes e out of the slot and returns the slot to keep, and
// whether it is now empty (the caller then deletes it from the map).
func (sl slot) remove(e *entry) (slot, bool) {
	if sl.byKey == nil {
		sl.list = removeEntry(sl.list, e)
		return sl, len(sl.list) == 0
	}
	if es := removeEntry(sl.byKey[e.hash], e); len(es) > 0 {
		sl.byKey[e.hash] = es
	} else {
		delete(sl.byKey, e.hash)
	}
	return sl, len(sl.byKey) == 0
}

// sameEntry returns the index in es of the entry with e's key and variant,
// or -1; and, when there is none and e's key has MaxVariants variants in
// es already, the index of the one stored first, else -1.
func sameEntry(es []*entry, e *entry) (same, oldest int) {
	variants := 0
	oldest = -1
	for i, c := range es {
		if c.hash != e.hash || c.key != e.key {
			continue
		}
		if c.obj.Variant == e.obj.Variant {
			return i, -1
		}
		if variants++; oldest < 0 || c.obj.Stored.Before(es[oldest].obj.Stored) {
			oldest = i
		}
	}
	if variants < MaxVariants {
		oldest = -1
	}
	return -1, oldest
}

// The lists of entries follow one rule: an entry's own array (entry.self)
// holds only that entry, ever. A list of one entry is that entry's array,
// so that most URIs and keys need no allocation for their list; a list
// that grows past it is copied by append (its capacity is 1), and one
// that shrinks to nothing is dropped. Only lists of two or more, which
// append allocated, are written in place.

// appendEntry returns es with e added.
func appendEntry(es []*entry, e *entry) []*entry {
	if len(es) == 0 {
		return e.list()
	}
	return append(es, e)
}

// replaceEntry returns es with e in place of es[i].
func replaceEntry(es []*entry, i int, e *entry) []*entry {
	if len(es) == 1 {
		return e.list()
	}
	es[i] = e
	return es
}

// removeEntry returns es without e.
func removeEntry(es []*entry, e *entry) []*entry {
	for i, c := range es {
		if c != e {
			continue
		}
		if len(es) == 1 {
			return nil
		}
		copy(es[i:], es[i+1:])
		es[len(es)-1] = nil // no stale pointer keeps e alive
		return es[:len(es)-1]
	}
	return es
}
