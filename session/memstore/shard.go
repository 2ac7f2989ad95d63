package memstore

import (
	"strings"
	"sync"
	"time"

	"github.com/tetherlb/tether/session"
)

// skey is a record's key in its shard: the shard-local number of its
// tenant and its ID key, 40 bytes with padding.
type skey struct {
	tenant uint32
	ikey
}

// entry is one record. Value is held as a string, so that it is copied
// exactly once on the way in (string(b)) and once on the way out ([]byte(s))
// and can never be changed in between.
type entry struct {
	key     skey
	expires int64 // Unix nanoseconds
	version uint64
	user    string
	value   string
}

// toEntry returns e as the session.Entry of tenant and id, with a fresh
// copy of its value.
func (e *entry) toEntry(tenant, id string) session.Entry {
	return session.Entry{
		Tenant:  tenant,
		ID:      id,
		UserID:  e.user,
		Version: e.version,
		Expires: time.Unix(0, e.expires),
		Value:   []byte(e.value),
	}
}

// shard holds a slice of the records, chosen by a hash of the ID. Records
// live in a dense slice, so that eviction can sample it uniformly and the
// sweeper can walk it in resumable chunks; the map finds a record's slot.
type shard struct {
	mu      sync.RWMutex
	slots   map[skey]uint32
	entries []entry
	others  map[skey]string // the IDs of kindOther records
	tenants tenantTable
	_       [64]byte // keeps the next shard's lock off this shard's cache lines
}

// find returns the slot of the record (tenant, k), live or not. The caller
// holds sh.mu.
func (sh *shard) find(tenant string, k ikey) (int, bool) {
	tid, ok := sh.tenants.ids[tenant]
	if !ok {
		return 0, false
	}
	i, ok := sh.slots[skey{tid, k}]
	return int(i), ok
}

// id returns the ID of the record in slot i. The caller holds sh.mu.
func (sh *shard) id(i int) string {
	k := sh.entries[i].key
	if k.kind == kindOther {
		return k.format(sh.others[k])
	}
	return k.format("")
}

// insert adds e as the record (tenant, id), which must be absent, and
// returns the shard's copy of tenant. The caller holds sh.mu and indexes
// the record by user.
func (sh *shard) insert(tenant, id string, k ikey, e entry) string {
	e.key = skey{sh.tenants.acquire(tenant), k}
	if k.kind == kindOther {
		if sh.others == nil {
			sh.others = make(map[skey]string)
		}
		sh.others[e.key] = strings.Clone(id)
	}
	sh.slots[e.key] = uint32(len(sh.entries))
	sh.entries = append(sh.entries, e)
	return sh.tenants.names[e.key.tenant]
}

// remove deletes the record in slot i by moving the last record into it.
// The caller holds sh.mu and has removed the record from the user index.
func (sh *shard) remove(i int) {
	k := sh.entries[i].key
	delete(sh.slots, k)
	if k.kind == kindOther {
		delete(sh.others, k)
	}
	sh.tenants.release(k.tenant)
	last := len(sh.entries) - 1
	if i != last {
		sh.entries[i] = sh.entries[last]
		sh.slots[sh.entries[i].key] = uint32(i)
	}
	sh.entries[last] = entry{} // drop the strings for the collector
	sh.entries = sh.entries[:last]
}

// shrink gives back the slice's spare room once three quarters of it are
// unused, so that a burst of sessions does not pin its memory for good.
func (sh *shard) shrink() {
	if c := cap(sh.entries); c >= 1024 && len(sh.entries) <= c/4 {
		sh.entries = append(make([]entry, 0, 2*len(sh.entries)), sh.entries...)
	}
}

// tenantTable numbers the tenants of one shard's records, so that each key
// holds 4 bytes instead of a 16-byte string header. A number is freed when
// its last record goes: the table never outgrows the records.
type tenantTable struct {
	ids   map[string]uint32
	names []string
	refs  []uint32
	free  []uint32
}

// acquire returns the number of tenant, counting one more record of it.
func (t *tenantTable) acquire(tenant string) uint32 {
	if id, ok := t.ids[tenant]; ok {
		t.refs[id]++
		return id
	}
	name := strings.Clone(tenant)
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.names[id], t.refs[id] = name, 1
	} else {
		id = uint32(len(t.names))
		t.names, t.refs = append(t.names, name), append(t.refs, 1)
	}
	t.ids[name] = id
	return id
}

// release counts one record of tenant number id fewer.
func (t *tenantTable) release(id uint32) {
	if t.refs[id]--; t.refs[id] == 0 {
		delete(t.ids, t.names[id])
		t.names[id] = ""
		t.free = append(t.free, id)
	}
}
