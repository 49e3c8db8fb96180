-- tollgate: one multi-resource limiter shared on Redis. Every decision is this one script, run
-- atomically by the server on the server's clock (TIME; Redis >= 5 replicates the script's
-- effects, not the script). Times are microseconds since the Unix epoch (exact in Lua's doubles
-- until the year 2255).
--
-- KEYS[1]  {name}:state   a string: the parameters every process must agree on, a NUL byte,
--                         then 2 + 3n doubles (struct-packed, little-endian): tail (latest
--                         instant granted: FIFO by commit order), pause, and per resource i its
--                         GCRA theoretical arrival time (tat), the latest instant a call
--                         charged on it goes or a usage counts from (from), and the server's
--                         hold (hold). One GET and one SET PX per decision (a hash costs
--                         twice as much server time).
-- KEYS[2]  {name}:slots   sorted set of concurrency-slot holders scored by lease expiry
--
-- ARGV[1] op, ARGV[2] parameters, ARGV[3] n (resources); the rest depends on op.
-- Replies: {0, now, ...} done; {-1, stored} parameters differ; {1, now, at} not in time;
-- {2, now, expiry} no slot free; {3, now, at, resource} held too long.

local op = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local params = ARGV[2]
local n = tonumber(ARGV[3])
local layout = '<' .. string.rep('d', 2 + 3 * n)

-- cost units of a resource whose emission interval is `interval` ns, in whole microseconds
-- (rounded up: the shared limiter is at most 1 us per charge stricter than the local one)
local function span(cost, interval)
  return math.ceil(cost * interval / 1000)
end

local tail, pause = 0, 0
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
  tail, pause = values[1], values[2]
  for i = 1, n do
    tat[i], from[i], hold[i] = values[3 * i], values[3 * i + 1], values[3 * i + 2]
  end
end

-- writes the state back, alive until it is full again plus a minute (and a lease)
local function save(extra_ms)
  local values = {tail, pause}
  local horizon = math.max(now, tail, pause)
  for i = 1, n do
    values[#values + 1] = tat[i]
    values[#values + 1] = from[i]
    values[#values + 1] = hold[i]
    horizon = math.max(horizon, tat[i], hold[i])
  end
  local ttl = math.ceil((horizon - now) / 1000) + 60000 + extra_ms
  redis.call('SET', KEYS[1], params .. '\0' .. struct.pack(layout, unpack(values)), 'PX', ttl)
  if extra_ms > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end

if op == 'reserve' then
  -- per resource: interval (ns), burst, cost; then max_parallel (0: none), holder, lease (us),
  -- patience (us; -1: forever), longest hold (us)
  local base = 4 + 3 * n
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
    local interval, burst, cost = tonumber(ARGV[1 + 3 * i]), tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
    if cost > 0 then
      local fits = math.max(now, tat[i] + span(cost, interval) - span(burst, interval), hold[i])
      if fits > at then
        at = fits
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
    local interval, burst, cost = tonumber(ARGV[1 + 3 * i]), tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
    local mark = 0
    if cost > 0 then
      local sp = span(cost, interval)
      local conforms = math.max(now, tat[i] + sp - span(burst, interval))
      local start = now
      if at > now and at > conforms then
        start = at
      end
      tat[i] = math.max(tat[i], start) + sp
      -- the instant the call goes, not where its charge starts in the queue: a refund must
      -- know whether a call granted on this state is still to go
      from[i] = math.max(from[i], at)
      mark = tat[i]
    end
    reply[#reply + 1] = mark
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
  -- per resource: interval, cost to give back, mark of its charge, cost to record, instant to
  -- record it from (us); then the slot holder to release ('' for none)
  local reply = {0, now}
  for i = 1, n do
    local interval, cost, mark = tonumber(ARGV[5 * i - 1]), tonumber(ARGV[5 * i]), tonumber(ARGV[5 * i + 1])
    local record, record_from = tonumber(ARGV[5 * i + 2]), tonumber(ARGV[5 * i + 3])
    if cost > 0 and mark > now then
      -- what the charge still holds: its part of the backlog not drained by now (it drains
      -- last of everything owed up to its mark)
      local held = math.min(span(cost, interval), mark - now)
      -- the TAT moves only when no reservation committed after this charge is still to start
      -- (its process sleeps until an instant fixed on this TAT), or when this charge is the
      -- newest: otherwise the units stay taken (stricter, never looser)
      if from[i] <= now or mark == tat[i] then
        local given = math.min(held, tat[i] - now)
        if given > 0 then
          tat[i] = tat[i] - given
        end
      end
    end
    local new_mark = 0
    if record > 0 then
      local start = math.max(now, record_from)
      tat[i] = math.max(tat[i], start) + span(record, interval)
      from[i] = math.max(from[i], start)
      new_mark = tat[i]
    end
    reply[#reply + 1] = new_mark
  end
  local holder = ARGV[4 + 5 * n]
  if holder ~= '' then
    redis.call('ZREM', KEYS[2], holder)
  end
  save(0)
  return reply
elseif op == 'observe' then
  -- resource (1-based; 0: a pause of every resource), kind, value, interval, burst
  local i, kind, value = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
  if kind == 'hold' and i == 0 then
    pause = math.max(pause, now + value)
  elseif kind == 'hold' then
    hold[i] = math.max(hold[i], now + value)
  else
    local interval, burst = tonumber(ARGV[7]), tonumber(ARGV[8])
    -- at most `value` units available now: the backlog is at least the burst less them
    if value < burst then
      tat[i] = math.max(tat[i], now + span(burst - value, interval))
    end
  end
  save(0)
  return {0, now}
elseif op == 'usage' then
  local reply = {0, now}
  for i = 1, n do
    reply[#reply + 1] = tat[i]
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  reply[#reply + 1] = redis.call('ZCARD', KEYS[2])
  return reply
elseif op == 'release' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {0, now}
elseif op == 'renew' then
  -- lease (us), then the holders still alive in the calling process
  local lease = tonumber(ARGV[4])
  for k = 5, #ARGV do
    redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[k])
  end
  if #ARGV >= 5 then
    redis.call('PEXPIRE', KEYS[2], math.ceil(lease / 1000) + 60000)
  end
  return {0, now}
end
return redis.error_reply('tollgate: unknown operation ' .. tostring(op))
