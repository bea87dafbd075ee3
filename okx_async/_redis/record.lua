-- record: what one process knows about its own slots, told again on every beat.
-- A finished request's slot frees cool_ms after it finished; a slot still in flight
-- is leased for lease_ms from now, so it frees soon after its process stops beating.
-- Telling it again is harmless and restores what a restarted Redis forgot. After a
-- 50011, every grant pauses for a window and pacing turns even, in the same step.
--
-- KEYS: slots procs state
-- ARGV: instance cool_ms lease_ms interval_ms throttle(0|1) state_ttl_ms peers_ms
--       n_finished (permit ago_ms answer(0: none, 1: accepted, 2: not accepted))...
--       n_flying permit...
-- Reply: 1 if this call switched pacing on, else 0
local slots, procs, state = KEYS[1], KEYS[2], KEYS[3]
local cool, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
redis.call('ZADD', procs, now, ARGV[1])

local probe = redis.call('HGET', state, 'probe')
local i = 8
for j = i + 1, i + 3 * tonumber(ARGV[i]), 3 do
  local id, at, answer = ARGV[j], now - tonumber(ARGV[j + 1]) + cool, ARGV[j + 2]
  if at > now then
    redis.call('ZADD', slots, at, id)
  else
    redis.call('ZREM', slots, id)
  end
  if answer ~= '0' and id == probe then
    redis.call('HDEL', state, 'probe')
    if answer == '1' then
      redis.call('HINCRBY', state, 'left', -1)
    end
  end
end
i = i + 3 * tonumber(ARGV[i]) + 1
for j = i + 1, i + tonumber(ARGV[i]) do
  redis.call('ZADD', slots, now + lease, ARGV[j])
end

local paced = 0
if ARGV[5] == '1' then
  local pause = tonumber(redis.call('HGET', state, 'pause')) or 0
  redis.call('HSET', state, 'pause', math.max(pause, now + cool))
  paced = redis.call('HSETNX', state, 'interval', ARGV[4])
  if paced == 1 then
    redis.call('HSET', state, 'last', now)
  end
end
local latest = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')[2]
if latest then
  redis.call('PEXPIRE', slots, math.ceil(tonumber(latest) - now) + 1)
end
redis.call('PEXPIRE', procs, ARGV[7])
if redis.call('EXISTS', state) == 1 then
  redis.call('PEXPIRE', state, ARGV[6])
end
return paced
