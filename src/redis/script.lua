-- tollgate: one multi-resource limiter shared on Redis. Every decision is this one script, run
-- atomically by the server on the server's clock (TIME; Redis >= 5 replicates the script's
-- effects, not the script). Times are microseconds since the Unix epoch (exact in Lua's doubles
-- until the year 2255).
--
-- KEYS[1]  {name}:params  the parameters every process must agree on (a string)
-- KEYS[2]  {name}:state   hash: tat:i (GCRA theoretical arrival time of resource i),
--                         from:i (latest instant a charge of i counts from), hold:i, pause,
--                         tail (latest instant granted: FIFO by commit order)
-- KEYS[3]  {name}:slots   sorted set of concurrency-slot holders scored by lease expiry
--
-- ARGV[1] op, ARGV[2] parameters, ARGV[3] n (resources); the rest depends on op.
-- Replies: {0, now, ...} done; {-1, stored} parameters differ; {1, now, at} not in time;
-- {2, now, expiry} no slot free; {3, now, at, resource} held too long.

local op = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local stored = redis.call('GET', KEYS[1])
if stored and stored ~= ARGV[2] then
  return {-1, stored}
end
local n = tonumber(ARGV[3])

-- cost units of a resource whose emission interval is `interval` ns, in whole microseconds
-- (rounded up: the shared limiter is at most 1 us per charge stricter than the local one)
local function span(cost, interval)
  return math.ceil(cost * interval / 1000)
end

local fields = {'tail', 'pause'}
for i = 1, n do
  fields[#fields + 1] = 'tat:' .. i
  fields[#fields + 1] = 'from:' .. i
  fields[#fields + 1] = 'hold:' .. i
end
local raw = redis.call('HMGET', KEYS[2], unpack(fields))
local tail, pause = tonumber(raw[1] or '0'), tonumber(raw[2] or '0')
local tat, from, hold = {}, {}, {}
for i = 1, n do
  tat[i] = tonumber(raw[3 * i] or '0')
  from[i] = tonumber(raw[3 * i + 1] or '0')
  hold[i] = tonumber(raw[3 * i + 2] or '0')
end

-- writes the state back and keeps every key alive until the state is full again (plus a minute,
-- or a lease)
local function save(extra_ms)
  local out = {'tail', tail, 'pause', pause}
  local horizon = math.max(now, tail, pause)
  for i = 1, n do
    out[#out + 1] = 'tat:' .. i
    out[#out + 1] = tat[i]
    out[#out + 1] = 'from:' .. i
    out[#out + 1] = from[i]
    out[#out + 1] = 'hold:' .. i
    out[#out + 1] = hold[i]
    horizon = math.max(horizon, tat[i], hold[i])
  end
  redis.call('HSET', KEYS[2], unpack(out))
  local ttl = math.ceil((horizon - now) / 1000) + 60000 + extra_ms
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
  if extra_ms > 0 then
    redis.call('PEXPIRE', KEYS[3], ttl)
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
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    if redis.call('ZCARD', KEYS[3]) >= max_parallel then
      local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
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
      from[i] = math.max(from[i], start)
      mark = tat[i]
    end
    reply[#reply + 1] = mark
  end
  tail = math.max(tail, at)
  local extra = 0
  if max_parallel > 0 then
    redis.call('ZADD', KEYS[3], now + lease, holder)
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
    redis.call('ZREM', KEYS[3], holder)
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
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  reply[#reply + 1] = redis.call('ZCARD', KEYS[3])
  return reply
elseif op == 'release' then
  redis.call('ZREM', KEYS[3], ARGV[4])
  return {0, now}
elseif op == 'renew' then
  -- lease (us), then the holders still alive in the calling process
  local lease = tonumber(ARGV[4])
  for k = 5, #ARGV do
    redis.call('ZADD', KEYS[3], 'XX', now + lease, ARGV[k])
  end
  if #ARGV >= 5 then
    redis.call('PEXPIRE', KEYS[3], math.ceil(lease / 1000) + 60000)
  end
  return {0, now}
end
return redis.error_reply('tollgate: unknown operation ' .. tostring(op))
