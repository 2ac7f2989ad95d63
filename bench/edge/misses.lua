-- bench/edge/misses.lua: a wrk script that sends every request to a new
-- URL, /static/PREFIX-THREAD-N, so that a cache sees only misses (each of
-- which it fetches from the origin and stores).
--
--   wrk -t2 -c64 -d10s -s bench/edge/misses.lua http://127.0.0.1:PORT -- /static/r1-edge-
--
-- The argument after -- is the prefix; bench/edge.sh uses a new one for
-- every run and for its warm-up, so no URL is ever requested twice.

local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
end

local prefix = "/static/miss-"
local n = 0

function init(args)
   if args[1] ~= nil then prefix = args[1] end
   prefix = prefix .. tid .. "-"
end

function request()
   n = n + 1
   return wrk.format("GET", prefix .. n)
end
