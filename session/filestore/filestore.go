// Package filestore is the embedded, persistent session.Store: it keeps
// records in one bbolt file (https://github.com/etcd-io/bbolt) on the local
// disk, so that users stay logged in when the process restarts.
//
// Use it when tether and the application run on one machine and sessions
// must survive restarts and upgrades. Only one process can open the file at
// a time, so replicas cannot share it: behind several replicas use a
// shared store (redisstore, pgstore). When sessions need not survive a
// restart, session/memstore is faster.
//
// Every write is one bbolt transaction, committed to disk before the call
// returns. Each record is stored with a format byte and a CRC-32C checksum,
// so a damaged record is reported as session.ErrCorrupt rather than served.
// The file holds the records' user IDs and values, so Open creates it with
// mode 0600 and refuses a file that other users can read or write.
package filestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/session"
)

// Defaults for the zero fields of Options.
const (
	DefaultSweepInterval = time.Minute
	DefaultLockTimeout   = time.Second
)

// sweepBatch bounds the expired records one sweeper transaction deletes,
// so that writers never wait long behind it.
const sweepBatch = 1000

// ErrLocked is wrapped by the error of an Open that gave up waiting for
// another process, or another Store in this one, to close the file.
var ErrLocked = errors.New("file is locked by another process")

// Options configures a Store. The zero value selects every default.
type Options struct {
	// Clock tells the time records expire by and paces the sweeper. Nil
	// means the wall clock.
	Clock clock.Clock
	// SweepInterval is the time between two sweeps that delete expired
	// records. Zero or less means DefaultSweepInterval (one minute).
	SweepInterval time.Duration
	// LockTimeout is how long Open waits for the process holding the file
	// to close it before failing with ErrLocked. Zero or less means
	// DefaultLockTimeout (one second).
	LockTimeout time.Duration
	// Logger receives the sweeper's failures. Nil means no logging.
	Logger *slog.Logger
}

// Store is a session.Store in a bbolt file. Open one with Open; its
// methods are safe for concurrent use. Reads run in parallel; writes are
// serialized by bbolt and each waits for its commit to reach the disk, so
// they may block, but they do not watch their context once started.
//
// A record whose stored bytes fail their checks is treated as follows, so
// that damage is reported and never spreads: Get returns an error wrapping
// session.ErrCorrupt; Create and Update change nothing and return false
// with such an error (a compare-and-swap cannot be checked against a
// version that cannot be read); Delete, DeleteUser and the sweeper delete
// it; ListUser returns the user's readable records together with such an
// error.
type Store struct {
	db       *bolt.DB
	clock    clock.Clock
	log      *slog.Logger
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	closeErr error
}

var _ session.Store = (*Store)(nil)

// Bucket names, and the layout this version writes.
var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records")
	bucketUsers   = []byte("users")
	bucketExpiry  = []byte("expiry")
	keyLayout     = []byte("layout")
	layoutVersion = []byte{1}
)

// Open opens the store in the file at path, creating it with mode 0600 if
// it does not exist, and starts the sweeper; Close stops it and closes the
// file. Open fails, with an error wrapping ErrLocked, when another process
// holds the file for longer than opts.LockTimeout; it also fails when the
// file's mode grants any access to group or others, or when the file is a
// bbolt database holding other data.
func Open(path string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true, // rebuilt on open; saves a write per commit
		FreelistType:   bolt.FreelistMapType,
		OpenFile:       openPrivate,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("filestore: open %s: %w (waited %v)", path, ErrLocked, opts.LockTimeout)
	case err != nil:
		return nil, fmt.Errorf("filestore: open %s: %w", path, err)
	}
	if err := db.Update(prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("filestore: open %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		clock:   opts.Clock,
		log:     opts.Logger.With("component", "filestore", "path", path),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.sweepEvery(opts.SweepInterval)
	return s, nil
}

// openPrivate opens the database file like os.OpenFile, refusing a file
// that is not regular or that group or others may access.
func openPrivate(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file", name)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		err = fmt.Errorf("file mode %#o lets other users access the sessions; run chmod 600 %s", fi.Mode().Perm(), name)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepare creates the buckets of a new file, or checks that an existing
// file is a session store of a layout this version reads.
func prepare(tx *bolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(keyLayout); !bytes.Equal(v, layoutVersion) {
			return fmt.Errorf("unsupported layout %x, want %x", v, layoutVersion)
		}
	} else {
		empty := true
		tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return errors.New("the file holds other data, not sessions")
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyLayout, layoutVersion); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketRecords, bucketUsers, bucketExpiry} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the sweeper, waiting for its current transaction, and closes
// the file. Later calls return the first call's result.
func (s *Store) Close() error {
	s.stopOnce.Do(func() {
		close(s.done)
		<-s.stopped
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("filestore: close: %w", err)
		}
	})
	return s.closeErr
}

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

// sweepEvery runs sweep every interval until Close.
func (s *Store) sweepEvery(interval time.Duration) {
	defer close(s.stopped)
	for {
		select {
		case <-s.done:
			return
		case <-s.clock.After(interval):
			n, err := s.sweep()
			if err != nil {
				s.log.Warn("sweep failed", "deleted", n, "err", err)
			} else if n > 0 {
				s.log.Debug("swept expired sessions", "deleted", n)
			}
		}
	}
}

// sweep deletes the records that have expired, sweepBatch per transaction,
// and returns how many it deleted. It stops early when Close is called.
func (s *Store) sweep() (int, error) {
	total := 0
	for {
		n, more, err := s.sweepBatch(s.now())
		total += n
		if err != nil || !more {
			return total, err
		}
		select {
		case <-s.done:
			return total, nil
		default:
		}
	}
}

// sweepBatch deletes up to sweepBatch records due by now, in one
// transaction, and reports whether more are due.
func (s *Store) sweepBatch(now int64) (n int, more bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		n, more = 0, false
		b := bucketsOf(tx)
		var due [][]byte
		c := b.expiry.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(due) == sweepBatch {
				more = true
				break
			}
			if len(k) >= 8 && expiryTime(k) > now {
				break
			}
			due = append(due, bytes.Clone(k))
		}
		for _, k := range due {
			deleted, err := b.expire(k)
			if err != nil {
				return err
			}
			if deleted {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("filestore: sweep: %w", err)
	}
	return n, more, nil
}
