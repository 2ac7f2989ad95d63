package redisstore

import "github.com/redis/rueidis"

// Every script touches exactly one key, so each runs on one node of a
// Cluster whatever the key prefix; what spans a record and an index is
// ordered instead (see Store).

// luaOwner defines owner(r): the user ID framed in record r (see
// record.go), or nil when r is not a framed record: absent, of another
// type, of another format, or of a length its header does not add up to.
const luaOwner = `
local function owner(r)
  if type(r) ~= 'string' or #r < 29 or string.byte(r, 1) ~= 1 then return nil end
  local function u32(i)
    local a, b, c, d = string.byte(r, i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  local n = u32(18)
  if #r ~= 29 + n + u32(22) then return nil end
  return string.sub(r, 26, 25 + n)
end
`

// Results of the compare-and-swap script.
const (
	casMissing  = -1 // no live record
	casCorrupt  = -2 // a record that owner cannot read
	casMismatch = 0  // a record of another version
	casDone     = 1  // replaced; the previous owner follows
)

// luaCAS replaces the record KEYS[1] with ARGV[2], expiring at PXAT
// ARGV[3], if its version is ARGV[1] (8 bytes, big-endian). It returns
// {casDone, previous user ID} or {casMissing}, {casCorrupt}, {casMismatch}.
const luaCAS = luaOwner + `
local r = redis.pcall('GET', KEYS[1])
if not r then return {-1} end
local user = owner(r)
if not user then return {-2} end
if string.sub(r, 2, 9) ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return {1, user}
`

// luaDeleteOwned deletes the record KEYS[1] if its user is ARGV[1], and
// returns 1 if it did, else 0.
const luaDeleteOwned = luaOwner + `
if owner(redis.pcall('GET', KEYS[1])) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`

// luaIndexAdd adds member ARGV[2] to the user index KEYS[1] with score
// ARGV[1] (the record's expiry, Unix ms), or raises its score to that, and
// makes the index live at least as long as its longest-lived member:
// PEXPIREAT NX sets a first deadline, GT only ever extends it. A score is
// never lowered, so it never understates how long the member's record
// can live, even when two writers race.
const luaIndexAdd = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'GT')
return 1
`

// luaIndexList drops the members of the user index KEYS[1] whose score
// (expiry) has passed by the server's clock, and returns the rest.
const luaIndexList = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`

// scripts are a Store's Lua scripts; rueidis runs each with EVALSHA and
// falls back to EVAL when the server does not have it cached.
type scripts struct {
	cas, deleteOwned, indexAdd, indexList *rueidis.Lua
}

func newScripts() scripts {
	return scripts{
		cas:         rueidis.NewLuaScript(luaCAS),
		deleteOwned: rueidis.NewLuaScript(luaDeleteOwned),
		indexAdd:    rueidis.NewLuaScript(luaIndexAdd),
		indexList:   rueidis.NewLuaScript(luaIndexList),
	}
}
