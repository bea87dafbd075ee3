-- acquire: one decision for one process's waiters of one budget.
-- Drops what the caller gave up, registers its waiters in the shared FIFO, grants
-- the free slots to the oldest live tickets (handing over those of other processes)
-- and says how long the caller may sleep before the next decision. The protocol, key
-- by key and field by field, is in docs/multiple-bots.md ("The protocol").
--
-- Reply: {wait_ms (-1: nobody waits), peers, busy_ms, granted...}
local SLOTS, QUEUE, PROCS, STATE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ME = ARGV[1]                     -- the caller's instance
local REQUESTS = tonumber(ARGV[2])     -- the rule's N
local COOL = tonumber(ARGV[3])         -- window + margin, ms
local LEASE = tonumber(ARGV[4])        -- a slot granted now counts as in flight this long, ms
local TTL = tonumber(ARGV[5])          -- the caller counts as alive this long after this call, ms
local HOLD = tonumber(ARGV[6])         -- the restart hold, ms; 0: none
local KNOWN = ARGV[7] == '1'           -- the caller saw this budget's state lately
local STATE_TTL = ARGV[8]              -- ms
local PEERS = tonumber(ARGV[9])        -- processes seen within this long count, ms
local POLL = tonumber(ARGV[10])        -- how soon to look again while a probe is out, ms
local LISTS = 11                       -- n_drop drop... n_ticket (ticket age_ms)...

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000

redis.call('ZREMRANGEBYSCORE', SLOTS, '-inf', now)
redis.call('ZREMRANGEBYSCORE', PROCS, '-inf', now - PEERS)
redis.call('ZADD', PROCS, now + TTL, ME)

-- The process that made an id (the part before the '.') still beats: the time until
-- which it counts as alive, or nil.
local function alive(id)
  local until_ = tonumber(redis.call('ZSCORE', PROCS, string.match(id, '^[^.]*')))
  if until_ and until_ > now then
    return until_
  end
  return nil
end

local info = redis.call('INFO', 'server')
local run = string.match(info, 'run_id:(%x+)')
local s = redis.call('HMGET', STATE, 'fresh', 'left', 'probe', 'interval', 'last', 'pause', 'run')
local fresh, left, probe = tonumber(s[1]), tonumber(s[2]), s[3]
local interval, last, pause = tonumber(s[4]) or 0, tonumber(s[5]) or 0, tonumber(s[6]) or 0
if s[7] ~= run then
  -- This server does not hold the budget's history: it started lately (a restart
  -- forgets everything), or the state was written by another server (a failover, a
  -- slot migration), or state the caller saw is gone (a flush, an eviction). What it
  -- forgot cooled a window after the change at the latest: grant nothing until then
  -- (live processes tell it again meanwhile what they have in flight or cooling),
  -- and then only probes, one at a time, so a miss costs one rejection.
  local until_ = -math.huge
  if HOLD > 0 then
    -- The latest the server can have started: INFO counts whole seconds, and it
    -- started before this call.
    local uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)'))
    local started = math.min((math.floor(now / 1000) - uptime + 1) * 1000, now)
    if started + HOLD > now then
      until_ = started + HOLD
    end
    if s[7] or KNOWN then
      until_ = math.max(until_, now + HOLD)  -- lost at some moment before now
    end
  end
  if until_ > now then
    pause = math.max(pause, until_)
    fresh, left = 0, REQUESTS
  elseif not fresh then
    fresh, left = REQUESTS, REQUESTS  -- a new budget: the first N go at once
  end
  redis.call('HSET', STATE, 'fresh', fresh, 'left', left, 'pause', pause, 'run', run)
end

-- Given up by the caller: the ticket leaves the line, an unused slot is free again.
local i = LISTS
for j = i + 1, i + tonumber(ARGV[i]) do
  redis.call('ZREM', QUEUE, ARGV[j])
  redis.call('ZREM', SLOTS, ARGV[j])
end
i = i + tonumber(ARGV[i]) + 1
-- A probe whose slot is gone (given back, cooled) or whose process stopped beating
-- will answer nothing: the next grant is a new probe. Its slot, if any, still cools.
if probe and not (redis.call('ZSCORE', SLOTS, probe) and alive(probe)) then
  redis.call('HDEL', STATE, 'probe')
  probe = false
end

local granted, waiting, nwaiting, floor = {}, {}, 0, -math.huge
for j = i + 1, i + 2 * tonumber(ARGV[i]), 2 do
  local id = ARGV[j]
  if redis.call('ZSCORE', SLOTS, id) then
    -- Handed over by another process's call: claimed now, in flight from now.
    redis.call('ZADD', SLOTS, now + LEASE, id)
    granted[#granted + 1] = id
  else
    local score = tonumber(redis.call('ZSCORE', QUEUE, id))
    if not score then
      -- Never ahead of the caller's older tickets: its waiters stay in FIFO order.
      score = math.max(now - tonumber(ARGV[j + 1]), floor)
      redis.call('ZADD', QUEUE, score, id)
    end
    floor = score
    waiting[id] = true
    nwaiting = nwaiting + 1
  end
end

local gate = math.max(pause, last + interval)
local taken = redis.call('ZCARD', SLOTS)
while taken < REQUESTS and gate <= now and not probe do
  local head = redis.call('ZRANGE', QUEUE, 0, 0)[1]
  if not head then
    break
  end
  redis.call('ZREM', QUEUE, head)
  local owner_until = alive(head)
  if waiting[head] or owner_until then
    if waiting[head] then
      waiting[head] = nil
      nwaiting = nwaiting - 1
      redis.call('ZADD', SLOTS, now + LEASE, head)
      granted[#granted + 1] = head
    else
      -- Another process's ticket: the slot is kept for it until it would count as
      -- dead. Alive, it calls again before then and claims it; dead, the slot frees
      -- then. Unclaimed, the ticket's next call puts it back in its place.
      redis.call('ZADD', SLOTS, owner_until, head)
    end
    taken = taken + 1
    if fresh > 0 then
      fresh = fresh - 1
      redis.call('HSET', STATE, 'fresh', fresh)
    elseif interval == 0 and left > 0 then
      -- A refilled slot before bursts are trusted goes alone, as a probe.
      probe = head
      redis.call('HSET', STATE, 'probe', head)
    end
    if interval > 0 then
      gate = now + interval
      redis.call('HSET', STATE, 'last', now)
    end
  end
  -- else: the ticket's process stopped beating; it no longer holds the line.
end

-- How long the caller may sleep. Times known in advance (a slot cooling, the pause,
-- the pacing) are waited for exactly. A probe's answer may come any moment: look again
-- in POLL. A slot in flight frees no sooner than a window after it is released, so
-- looking again in half a window loses nothing.
local wait = -1
if nwaiting > 0 then
  local at = gate
  if probe then
    at = math.max(at, math.min(tonumber(redis.call('ZSCORE', SLOTS, probe)), now + POLL))
  elseif taken >= REQUESTS then
    local first = tonumber(redis.call('ZRANGE', SLOTS, 0, 0, 'WITHSCORES')[2]) or now
    if first > now + COOL then
      first = now + COOL / 2
    end
    at = math.max(at, first)
  end
  wait = math.max(at - now, 0)
end

local busy = 0
local latest = redis.call('ZRANGE', SLOTS, -1, -1, 'WITHSCORES')[2]
if latest then
  busy = tonumber(latest) - now
  redis.call('PEXPIRE', SLOTS, math.ceil(busy) + 1)
end
redis.call('PEXPIRE', QUEUE, math.ceil(2 * TTL))
redis.call('PEXPIRE', PROCS, PEERS)
redis.call('PEXPIRE', STATE, STATE_TTL)
local reply = {string.format('%.3f', wait), redis.call('ZCARD', PROCS), string.format('%.3f', busy)}
for _, id in ipairs(granted) do
  reply[#reply + 1] = id
end
return reply
