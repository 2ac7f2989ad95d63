package memstore

import (
	"hash/maphash"
	"sync"
)

// userKey names a user within a tenant.
type userKey struct {
	tenant, user string
}

// userSet holds the keys of one user's records: a slice while the user has
// few, a set once a slice would make removal slow.
type userSet struct {
	few  []ikey
	many map[ikey]struct{}
}

// fewMax is the number of records a userSet keeps in a slice.
const fewMax = 16

// userShard holds the records of the users whose key hashes to it.
type userShard struct {
	mu   sync.Mutex
	sets map[userKey]userSet
	_    [64]byte
}

// userIndex maps (tenant, user) to the keys of the user's records. Record
// shards update it while holding their own lock, and it never takes a
// record shard's lock, so the lock order is always record shard, then user
// shard.
type userIndex struct {
	seed   maphash.Seed
	shards [shardCount]userShard
}

func (x *userIndex) init() {
	x.seed = maphash.MakeSeed()
	for i := range x.shards {
		x.shards[i].sets = make(map[userKey]userSet)
	}
}

func (x *userIndex) shard(uk userKey) *userShard {
	return &x.shards[maphash.Comparable(x.seed, uk)%shardCount]
}

// add records that the record k of tenant belongs to user. tenant and user
// are kept as given: the caller passes private copies, which the record
// shares.
func (x *userIndex) add(tenant, user string, k ikey) {
	uk := userKey{tenant, user}
	us := x.shard(uk)
	us.mu.Lock()
	defer us.mu.Unlock()
	set := us.sets[uk]
	switch {
	case set.many != nil:
		set.many[k] = struct{}{}
	case len(set.few) < fewMax:
		set.few = append(set.few, k)
	default:
		set.many = make(map[ikey]struct{}, 2*fewMax)
		for _, f := range set.few {
			set.many[f] = struct{}{}
		}
		set.many[k] = struct{}{}
		set.few = nil
	}
	us.sets[uk] = set
}

// remove forgets that the record k of tenant belongs to user.
func (x *userIndex) remove(tenant, user string, k ikey) {
	uk := userKey{tenant, user}
	us := x.shard(uk)
	us.mu.Lock()
	defer us.mu.Unlock()
	set, ok := us.sets[uk]
	if !ok {
		return
	}
	if set.many != nil {
		delete(set.many, k)
	} else {
		for i, f := range set.few {
			if f == k {
				last := len(set.few) - 1
				set.few[i] = set.few[last]
				set.few = set.few[:last]
				break
			}
		}
	}
	if len(set.few) == 0 && len(set.many) == 0 {
		delete(us.sets, uk)
		return
	}
	us.sets[uk] = set
}

// list returns a copy of the keys of user's records in tenant.
func (x *userIndex) list(tenant, user string) []ikey {
	uk := userKey{tenant, user}
	us := x.shard(uk)
	us.mu.Lock()
	defer us.mu.Unlock()
	set := us.sets[uk]
	if set.many == nil {
		return append([]ikey(nil), set.few...)
	}
	keys := make([]ikey, 0, len(set.many))
	for k := range set.many {
		keys = append(keys, k)
	}
	return keys
}
