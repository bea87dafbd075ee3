-- record: what one process knows about its own slots, told again on every beat.
-- A finished request's slot frees COOL after it finished; a slot still in flight is
-- leased for LEASE from now, so it frees soon after its process stops beating.
-- Telling it again is harmless and restores what a restarted Redis forgot. The
-- answers move the budget's pacing: the first 50011 pauses every grant for a window
-- and turns pacing even, a later one slows it down, accepted requests speed it up
-- again. The protocol, key by key and field by field, is in docs/multiple-bots.md.
--
-- Reply: 1 if this call switched pacing on, 2 if it slowed pacing down, else 0
local SLOTS, PROCS, STATE = KEYS[1], KEYS[2], KEYS[3]
local ME = ARGV[1]                     -- the caller's instance
local COOL = tonumber(ARGV[2])         -- window + margin, ms
local LEASE = tonumber(ARGV[3])        -- a slot in flight counts this long from now, ms
local TTL = tonumber(ARGV[4])          -- the caller counts as alive this long after this call, ms
local PACE = tonumber(ARGV[5])         -- even pacing's spacing, ms: (window + margin) / N
local SLOWER = tonumber(ARGV[6])       -- each further 50011 multiplies the spacing by this,
local MOST = tonumber(ARGV[7])         -- up to this factor,
local RECOVER = tonumber(ARGV[8])      -- and each accepted request takes this off the factor
local STATE_TTL = ARGV[9]              -- ms
local PEERS = ARGV[10]                 -- ms
local LISTS = 11  -- n_finished (permit ago_ms answer granted_ago_ms)... n_flying permit...
-- answer: 0 told before, 1 accepted, 2 unknown, 3 throttled (50011)

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
redis.call('ZADD', PROCS, now + TTL, ME)

local s = redis.call('HMGET', STATE, 'probe', 'interval', 'factor', 'throttled', 'pause')
local probe = s[1]
local interval, factor = tonumber(s[2]) or 0, tonumber(s[3]) or 1
local throttled, pause = tonumber(s[4]) or -math.huge, tonumber(s[5]) or 0
local paced, changed = 0, false
local i = LISTS
for j = i + 1, i + 4 * tonumber(ARGV[i]), 4 do
  local id, at, answer = ARGV[j], now - tonumber(ARGV[j + 1]) + COOL, ARGV[j + 2]
  if at > now then
    redis.call('ZADD', SLOTS, at, id)
  else
    redis.call('ZREM', SLOTS, id)
  end
  if answer ~= '0' and id == probe then
    redis.call('HDEL', STATE, 'probe')
    if answer == '1' then
      redis.call('HINCRBY', STATE, 'left', -1)
    end
  end
  if answer == '1' and interval > 0 then
    factor, changed = math.max(1, factor - RECOVER), true
  elseif answer == '3' then
    if interval == 0 then
      -- The first: every process pauses for a window, then grants are spaced evenly.
      pause, interval, paced = math.max(pause, now + COOL), PACE, 1
      redis.call('HSET', STATE, 'last', now)
    elseif now - tonumber(ARGV[j + 3]) >= throttled then
      -- Another, for a request granted after the last was handled: someone we cannot
      -- see shares the budget. Slow down, and hold the next grant for the new spacing.
      factor = math.min(factor * SLOWER, MOST)
      pause, paced = math.max(pause, now + PACE * factor), math.max(paced, 2)
    end
    -- else: granted before the last 50011 was handled, it is an echo of that one.
    throttled, changed = now, true
  end
end
if changed then
  redis.call('HSET', STATE, 'interval', PACE * factor, 'factor', factor, 'pause', pause)
  if throttled > -math.huge then
    redis.call('HSET', STATE, 'throttled', throttled)
  end
end
i = i + 4 * tonumber(ARGV[i]) + 1
for j = i + 1, i + tonumber(ARGV[i]) do
  redis.call('ZADD', SLOTS, now + LEASE, ARGV[j])
end

local latest = redis.call('ZRANGE', SLOTS, -1, -1, 'WITHSCORES')[2]
if latest then
  redis.call('PEXPIRE', SLOTS, math.ceil(tonumber(latest) - now) + 1)
end
redis.call('PEXPIRE', PROCS, PEERS)
if redis.call('EXISTS', STATE) == 1 then
  redis.call('PEXPIRE', STATE, STATE_TTL)
end
return paced
