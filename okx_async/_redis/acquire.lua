-- acquire: one decision for one process's waiters of one budget.
-- Drops what the caller gave up, registers its waiters in the shared FIFO, grants
-- the free slots to the oldest live tickets (handing over those of other processes)
-- and says how long the caller may sleep before the next decision.
--
-- KEYS: slots queue procs state
-- ARGV: instance requests cool_ms lease_ms ttl_ms hold_ms state_ttl_ms peers_ms poll_ms
--       n_drop drop... n_ticket (ticket age_ms)...
-- Reply: {wait_ms (-1: nobody waits), peers, busy_ms, granted...}
local slots, queue, procs, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local me = ARGV[1]
local requests = tonumber(ARGV[2])
local cool, lease, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000

redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
redis.call('ZREMRANGEBYSCORE', procs, '-inf', now - tonumber(ARGV[8]))
redis.call('ZADD', procs, now, me)

local s = redis.call('HMGET', state, 'fresh', 'left', 'probe', 'interval', 'last', 'pause')
local fresh, left, probe = tonumber(s[1]), tonumber(s[2]), s[3]
local interval, last, pause = tonumber(s[4]) or 0, tonumber(s[5]) or 0, tonumber(s[6]) or 0
if not fresh then
  -- No state: a new budget, or a Redis that restarted empty. In the second case the
  -- live processes are about to tell it again what they have in flight or cooling,
  -- so a Redis that started within the last second grants nothing for hold_ms.
  -- (INFO's uptime is a difference of whole seconds: 1 may be 1 ms after a start.)
  local info = redis.call('INFO', 'server')
  if tonumber(string.match(info, 'uptime_in_seconds:(%d+)')) <= 1 then
    pause = math.max(pause, now + tonumber(ARGV[6]))
    redis.call('HSET', state, 'pause', pause)
  end
  fresh, left = requests, requests
  redis.call('HSET', state, 'fresh', fresh, 'left', left)
end

-- Given up by the caller: the ticket leaves the line, an unused slot is free again.
local i = 10
for j = i + 1, i + tonumber(ARGV[i]) do
  redis.call('ZREM', queue, ARGV[j])
  redis.call('ZREM', slots, ARGV[j])
end
i = i + tonumber(ARGV[i]) + 1
-- A probe whose slot is gone (given back, cooled) or whose process stopped beating
-- will answer nothing: the next grant is a new probe. Its slot, if any, still cools.
if probe then
  local seen = tonumber(redis.call('ZSCORE', procs, string.match(probe, '^[^.]*')))
  if not redis.call('ZSCORE', slots, probe) or not seen or seen <= now - ttl then
    redis.call('HDEL', state, 'probe')
    probe = false
  end
end

local granted, waiting, nwaiting, floor = {}, {}, 0, -math.huge
for j = i + 1, i + 2 * tonumber(ARGV[i]), 2 do
  local id = ARGV[j]
  if redis.call('ZSCORE', slots, id) then
    -- Handed over by another process's call: claimed now, in flight from now.
    redis.call('ZADD', slots, now + lease, id)
    granted[#granted + 1] = id
  else
    local score = tonumber(redis.call('ZSCORE', queue, id))
    if not score then
      -- Never ahead of the caller's older tickets: its waiters stay in FIFO order.
      score = math.max(now - tonumber(ARGV[j + 1]), floor)
      redis.call('ZADD', queue, score, id)
    end
    floor = score
    waiting[id] = true
    nwaiting = nwaiting + 1
  end
end

local gate = math.max(pause, last + interval)
local taken = redis.call('ZCARD', slots)
while taken < requests and gate <= now and not probe do
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if not head then
    break
  end
  redis.call('ZREM', queue, head)
  local owner = string.match(head, '^[^.]*')
  local seen = tonumber(redis.call('ZSCORE', procs, owner))
  if waiting[head] or (seen and seen > now - ttl) then
    if waiting[head] then
      waiting[head] = nil
      nwaiting = nwaiting - 1
      redis.call('ZADD', slots, now + lease, head)
      granted[#granted + 1] = head
    else
      -- Another process's ticket: the slot is kept for it to claim while it lives.
      redis.call('ZADD', slots, (seen or now) + ttl, head)
    end
    taken = taken + 1
    if fresh > 0 then
      fresh = fresh - 1
      redis.call('HSET', state, 'fresh', fresh)
    elseif interval == 0 and left > 0 then
      -- A refilled slot before bursts are trusted goes alone, as a probe.
      probe = head
      redis.call('HSET', state, 'probe', head)
    end
    if interval > 0 then
      gate = now + interval
      redis.call('HSET', state, 'last', now)
    end
  end
  -- else: the ticket's process stopped beating; it no longer holds the line.
end

-- How long the caller may sleep. Times known in advance (a slot cooling, the pause,
-- the pacing) are waited for exactly. A probe's answer may come any moment: look again
-- in poll_ms. A slot in flight frees no sooner than a window after it is released, so
-- looking again in half a window loses nothing.
local wait = -1
if nwaiting > 0 then
  local at = gate
  if probe then
    at = math.max(at, math.min(tonumber(redis.call('ZSCORE', slots, probe)), now + tonumber(ARGV[9])))
  elseif taken >= requests then
    local first = tonumber(redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2]) or now
    if first > now + cool then
      first = now + cool / 2
    end
    at = math.max(at, first)
  end
  wait = math.max(at - now, 0)
end

local busy = 0
local latest = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')[2]
if latest then
  busy = tonumber(latest) - now
  redis.call('PEXPIRE', slots, math.ceil(busy) + 1)
end
redis.call('PEXPIRE', queue, math.ceil(2 * ttl))
redis.call('PEXPIRE', procs, ARGV[8])
redis.call('PEXPIRE', state, ARGV[7])
local reply = {string.format('%.3f', wait), redis.call('ZCARD', procs), string.format('%.3f', busy)}
for _, id in ipairs(granted) do
  reply[#reply + 1] = id
end
return reply
