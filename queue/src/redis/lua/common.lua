-- Shared by every script of the Redis queue backend. KEYS are the queue's fixed keys, in the
-- order of `QUEUE_KEYS` (queue/src/redis/keys.rs), the last a guard that never exists, so that no
-- script runs while the queue's slot migrates (see keys.rs). Every key of one queue shares the
-- hash tag "{<queue>}", so a script touches one slot; job hashes are built here from it. Scripts
-- read the jobs they find before they write, a second line of defence should a job's key be
-- elsewhere: the call then fails before it changes anything.
-- Time: ARGV[1] is the caller's clock (a test's manual clock) or '' for the server's own TIME,
-- so leases, promotion, rescue and retention follow one clock however the hosts' clocks differ.
local base = string.sub(KEYS[1], 1, -11) -- KEYS[1] is "<base>:available"
local K = {
  available = KEYS[1], -- ZSET id, score = (1000 - priority) * 2^42 + run_at
  scheduled = KEYS[2], -- ZSET id, score = run_at
  running = KEYS[3],   -- ZSET "id:token", score = lease expiry (the member fences)
  succeeded = KEYS[4], -- ZSET id, score = finished_at
  dead = KEYS[5],
  cancelled = KEYS[6],
  all = KEYS[7],       -- ZSET id, score 0: lexicographic = creation order (ULIDs lead ids)
  cancel = KEYS[8],    -- SET ids with a cancel request while running
  paused = KEYS[9],
  wake = KEYS[10],     -- LIST of wake tokens, BLPOPed by idle processes
  args = KEYS[11],     -- HASH id -> args (JSON): one HMGET reads a whole page's, for search
}

-- Now in milliseconds: the caller's, or the server's.
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A whole number of milliseconds as text (Lua would write large ones in exponent form).
local function ms(n) return string.format('%.0f', n) end

local function jkey(id) return base .. ':j:' .. id end
local function dkey(dk) return base .. ':d:' .. dk end

local function available_score(priority, run_at)
  return string.format('%.0f', (1000 - tonumber(priority)) * 4398046511104 + tonumber(run_at))
end

local function append_error(errs, at, attempt, class, message)
  local e = cjson.encode({ at = tonumber(at), attempt = tonumber(attempt), class = class, message = message })
  if errs == false or errs == nil or errs == '' or errs == '[]' then return '[' .. e .. ']' end
  return string.sub(errs, 1, -2) .. ',' .. e .. ']'
end

-- Wake tokens for idle processes: one per job made available, at most 16 (one LPUSH).
local function wake(n)
  local tokens = {}
  for _ = 1, math.max(1, math.min(n, 16)) do tokens[#tokens + 1] = '1' end
  redis.call('LPUSH', K.wake, unpack(tokens))
  redis.call('LTRIM', K.wake, 0, 15)
end

-- Variadic commands in chunks: Lua's unpack has a stack limit.
local function chunked(cmd, key, items, prefix_args)
  for i = 1, #items, 1000 do
    local args = {}
    for _, a in ipairs(prefix_args or {}) do args[#args + 1] = a end
    for j = i, math.min(i + 999, #items) do args[#args + 1] = items[j] end
    redis.call(cmd, key, unpack(args))
  end
end

-- A pruned job's dedup key lives on until its window ends, if the key still names the job
-- (another job may have taken it since). Until the prune the key stays: it answers while the job
-- is unfinished (also after a retry now) or inside its window, as on SQLite.
local function release_key(id, dk, now)
  local d = redis.call('GET', dkey(dk))
  if d then
    local eid, edu = string.match(d, '^([^\n]*)\n([^\n]*)\n')
    if eid == id then
      if tonumber(edu) > now then redis.call('PEXPIREAT', dkey(dk), edu) else redis.call('DEL', dkey(dk)) end
    end
  end
end

-- Ends a job in a final state: the state set, the hash and its cancel request.
local function finish(id, state, now, fields)
  redis.call('HSET', jkey(id), 's', state, 'f', now, unpack(fields))
  redis.call('ZADD', K[state], now, id)
  redis.call('SREM', K.cancel, id)
end

-- Makes a job available now (rescue, release, retry now).
local function make_available(id, now, fields)
  local jk = jkey(id)
  local p = redis.call('HGET', jk, 'p')
  redis.call('HSET', jk, 's', 'available', 'r', now, unpack(fields))
  redis.call('ZADD', K.available, available_score(p, now), id)
end

-- Expired leases: back to available, or dead on the last attempt, or cancelled when asked.
local function rescue(now, limit)
  local members = redis.call('ZRANGE', K.running, '-inf', ms(now), 'BYSCORE', 'LIMIT', 0, limit)
  local ids, fields = {}, {}
  for i, m in ipairs(members) do
    ids[i] = string.match(m, '^(.*):[^:]*$')
    fields[i] = redis.call('HMGET', jkey(ids[i]), 'n', 'm', 'cr', 'e')
  end
  for i, id in ipairs(ids) do
    local f = fields[i]
    local errs = append_error(f[4], now, f[1], 'lease_expired',
      'the worker stopped renewing its lease (crashed or lost its connection)')
    if f[3] == '1' then
      finish(id, 'cancelled', now, { 'e', errs })
    elseif tonumber(f[1]) >= tonumber(f[2]) then
      finish(id, 'dead', now, { 'e', errs })
    else
      make_available(id, now, { 'e', errs })
    end
  end
  if #members > 0 then
    chunked('ZREM', K.running, members)
    wake(#members)
  end
  return #members
end
