package balance

// FNV-1a 64-bit parameters, from
// https://datatracker.ietf.org/doc/html/draft-eastlake-fnv (also hash/fnv).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Hash returns the 64-bit hash used for hash keys and ring points: FNV-1a
// 64 (as computed by hash/fnv's New64a) finished with the splitmix64
// finalizer, which spreads FNV's weak low bits over the whole word. It is
// deterministic across processes and platforms, so every replica maps a key
// to the same backend. Hash does not allocate.
func Hash(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return mix64(h)
}

// mix64 is the splitmix64 finalizer (Steele, Lea and Flood, "Fast
// Splittable Pseudorandom Number Generators", OOPSLA 2014; constants from
// https://prng.di.unimi.it/splitmix64.c).
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
