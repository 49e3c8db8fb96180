-- tollgate: one multi-resource limiter shared on Redis. Every decision is this one script, run
-- atomically by the server on the server's clock (TIME; Redis >= 5 replicates the script's
-- effects, not the script). Times are microseconds since the Unix epoch (exact in Lua's doubles
-- until the year 2255).
--
-- KEYS[1]  {name}:state   a string: the parameters every process must agree on, a NUL byte,
--                         then 3 + 3n doubles (struct-packed, little-endian): tail (latest
--                         instant granted: FIFO by commit order), pause, seq (the last window
--                         entry's number), and per resource i: for GCRA its theoretical arrival
--                         time (tat), for a window the units its entries hold (sum); the latest
--                         instant a call charged on it goes or a usage counts from (from); the
--                         server's hold (hold). One GET and one SET PX per decision (a hash
--                         costs twice as much server time).
-- KEYS[2]  {name}:slots   sorted set of concurrency-slot holders scored by lease expiry
-- KEYS[2+i] {name}:window:i  resource i counted as an exact sliding window: its entries
--                         ("seq:cost") scored by the instant they count from
--
-- ARGV[1] op, ARGV[2] parameters, ARGV[3] n (resources); then per resource its kind ('g'
-- GCRA, 'w' window), a (GCRA: emission interval in ns; window: period in ns) and b (GCRA:
-- burst; window: limit); the rest depends on op (from ARGV[4 + 3n]).
-- Replies: {0, now, ...} done (a reservation: at, binding, n marks, n states); {-1, stored}
-- parameters differ; {1, now, at} not in time;
-- {2, now, expiry} no slot free; {3, now, at, resource} held too long.

local op = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local params = ARGV[2]
local n = tonumber(ARGV[3])
local layout = '<' .. string.rep('d', 3 + 3 * n)
local rest = 4 + 3 * n

local kind, a, b = {}, {}, {}
for i = 1, n do
  kind[i], a[i], b[i] = ARGV[1 + 3 * i], tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
end

-- cost units of a GCRA resource whose emission interval is `interval` ns, in whole
-- microseconds (rounded up: the shared limiter is at most 1 us per charge stricter)
local function span(cost, interval)
  return math.ceil(cost * interval / 1000)
end

local function period(i)
  return math.ceil(a[i] / 1000)
end

local tail, pause, seq = 0, 0, 0
local tat, from, hold = {}, {}, {}
for i = 1, n do
  tat[i], from[i], hold[i] = 0, 0, 0
end
local raw = redis.call('GET', KEYS[1])
if raw then
  if string.sub(raw, 1, #params + 1) ~= params .. '\0' then
    local nul = string.find(raw, '\0', 1, true) or (#raw + 1)
    return {-1, string.sub(raw, 1, nul - 1)}
  end
  local values = {struct.unpack(layout, raw, #params + 2)}
  tail, pause, seq = values[1], values[2], values[3]
  for i = 1, n do
    tat[i], from[i], hold[i] = values[3 * i + 1], values[3 * i + 2], values[3 * i + 3]
  end
end

-- a window's entries that no longer count (from `now - period` back) leave its sum
local function trim(i)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2 + i], '-inf', now - period(i))
  if #gone > 0 then
    for _, member in ipairs(gone) do
      tat[i] = tat[i] - tonumber(string.match(member, ':(%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2 + i], '-inf', now - period(i))
  end
end

-- the earliest instant >= now at which `cost` of resource i fits
local function fits(i, cost)
  if kind[i] == 'g' then
    return math.max(now, tat[i] + span(cost, a[i]) - span(b[i], a[i]))
  end
  -- Every entry counts from an instant <= the floor (FIFO), so the window ending at the
  -- instant chosen holds the most: drop the oldest entries until the cost fits.
  local over = tat[i] + cost - b[i]
  if over <= 0 then
    return now
  end
  local entries = redis.call('ZRANGE', KEYS[2 + i], 0, -1, 'WITHSCORES')
  for k = 1, #entries, 2 do
    over = over - tonumber(string.match(entries[k], ':(%d+)$'))
    if over <= 0 then
      return tonumber(entries[k + 1]) + period(i)
    end
  end
  return now -- unreachable: the cost is at most the limit
end

-- charges `cost` of resource i for a call going at `at` (a usage at `at` when `record`);
-- returns its mark
local function charge(i, cost, at, record)
  from[i] = math.max(from[i], at)
  if kind[i] == 'g' then
    local start = now
    if record or (at > now and at > fits(i, cost)) then
      start = at
    end
    tat[i] = math.max(tat[i], start) + span(cost, a[i])
    return tat[i]
  end
  seq = seq + 1
  redis.call('ZADD', KEYS[2 + i], at, seq .. ':' .. cost)
  tat[i] = tat[i] + cost
  return seq
end

-- writes the state back, alive until it is full again plus a minute (and a lease)
local function save(extra_ms)
  local values = {tail, pause, seq}
  local horizon = math.max(now, tail, pause)
  for i = 1, n do
    values[#values + 1] = tat[i]
    values[#values + 1] = from[i]
    values[#values + 1] = hold[i]
    if kind[i] == 'g' then
      horizon = math.max(horizon, tat[i], hold[i])
    else
      horizon = math.max(horizon, from[i] + period(i), hold[i])
    end
  end
  local ttl = math.ceil((horizon - now) / 1000) + 60000 + extra_ms
  redis.call('SET', KEYS[1], params .. '\0' .. struct.pack(layout, unpack(values)), 'PX', ttl)
  if extra_ms > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  for i = 1, n do
    if kind[i] == 'w' then
      redis.call('PEXPIRE', KEYS[2 + i], ttl)
    end
  end
end

for i = 1, n do
  if kind[i] == 'w' then
    trim(i)
  end
end

if op == 'reserve' then
  -- per resource its cost; then max_parallel (0: none), holder, lease (us), patience (us;
  -- -1: forever), longest hold (us)
  local cost = {}
  for i = 1, n do
    cost[i] = tonumber(ARGV[rest + i - 1])
  end
  local base = rest + n
  local max_parallel = tonumber(ARGV[base])
  local holder = ARGV[base + 1]
  local lease = tonumber(ARGV[base + 2])
  local patience = tonumber(ARGV[base + 3])
  local max_hold = tonumber(ARGV[base + 4])
  if max_parallel > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    if redis.call('ZCARD', KEYS[2]) >= max_parallel then
      local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
      return {2, now, tonumber(first[2])}
    end
  end
  local at = math.max(now, tail, pause)
  local binding = 0
  for i = 1, n do
    if cost[i] > 0 then
      local earliest = math.max(fits(i, cost[i]), hold[i])
      if earliest > at then
        at = earliest
        binding = i
      end
    end
  end
  if binding > 0 and hold[binding] == at and at - now > max_hold then
    return {3, now, at, binding}
  end
  if patience >= 0 and at > now + patience then
    return {1, now, at}
  end
  local reply = {0, now, at, binding}
  for i = 1, n do
    local mark = 0
    if cost[i] > 0 then
      mark = charge(i, cost[i], at, false)
    end
    reply[#reply + 1] = mark
  end
  -- then each resource's state after it (as 'usage' replies), for a fallback to start from
  for i = 1, n do
    reply[#reply + 1] = tat[i]
  end
  tail = math.max(tail, at)
  local extra = 0
  if max_parallel > 0 then
    redis.call('ZADD', KEYS[2], now + lease, holder)
    extra = math.ceil(lease / 1000)
  end
  save(extra)
  return reply
elseif op == 'refund' then
  -- per resource: cost to give back, mark of its charge, cost to record, instant to record it
  -- from (us); then the slot holder to release ('' for none)
  local reply = {0, now}
  for i = 1, n do
    local k = rest + 4 * (i - 1)
    local cost, mark = tonumber(ARGV[k]), tonumber(ARGV[k + 1])
    local record, record_from = tonumber(ARGV[k + 2]), tonumber(ARGV[k + 3])
    if cost > 0 and kind[i] == 'w' then
      -- a window entry holds its whole cost until it leaves the window (trimmed above)
      if redis.call('ZREM', KEYS[2 + i], mark .. ':' .. cost) == 1 then
        tat[i] = tat[i] - cost
      end
    elseif cost > 0 and mark > now then
      -- what the charge still holds: its part of the backlog not drained by now (it drains
      -- last of everything owed up to its mark)
      local held = math.min(span(cost, a[i]), mark - now)
      -- the TAT moves only when every call charged on it has gone (none sleeps in another
      -- process until an instant fixed on this TAT), or when this charge is the newest:
      -- otherwise the units stay taken (stricter, never looser)
      if from[i] <= now or mark == tat[i] then
        local given = math.min(held, tat[i] - now)
        if given > 0 then
          tat[i] = tat[i] - given
        end
      end
    end
    local new_mark = 0
    if record > 0 then
      new_mark = charge(i, record, math.max(now, record_from), true)
    end
    reply[#reply + 1] = new_mark
  end
  local holder = ARGV[rest + 4 * n]
  if holder ~= '' then
    redis.call('ZREM', KEYS[2], holder)
  end
  save(0)
  return reply
elseif op == 'observe' then
  -- resource (1-based; 0: a pause of every resource), kind, value
  local i, what, value = tonumber(ARGV[rest]), ARGV[rest + 1], tonumber(ARGV[rest + 2])
  if what == 'hold' and i == 0 then
    pause = math.max(pause, now + value)
  elseif what == 'hold' then
    hold[i] = math.max(hold[i], now + value)
  elseif kind[i] == 'g' then
    -- at most `value` units available now: the backlog is at least the burst less them
    if value < b[i] then
      tat[i] = math.max(tat[i], now + span(b[i] - value, a[i]))
    end
  elseif tat[i] + value < b[i] then
    charge(i, b[i] - value - tat[i], now, true)
  end
  save(0)
  return {0, now}
elseif op == 'usage' then
  -- per resource: GCRA its TAT, a window the units it holds; then the slots held
  local reply = {0, now}
  for i = 1, n do
    reply[#reply + 1] = tat[i]
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  reply[#reply + 1] = redis.call('ZCARD', KEYS[2])
  return reply
elseif op == 'release' then
  redis.call('ZREM', KEYS[2], ARGV[rest])
  return {0, now}
elseif op == 'renew' then
  -- lease (us), then the holders still alive in the calling process
  local lease = tonumber(ARGV[rest])
  for k = rest + 1, #ARGV do
    redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[k])
  end
  if #ARGV > rest then
    redis.call('PEXPIRE', KEYS[2], math.ceil(lease / 1000) + 60000)
  end
  return {0, now}
end
return redis.error_reply('tollgate: unknown operation ' .. tostring(op))
