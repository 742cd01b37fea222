-- admin: ARGV = now, op (cancel|discard|retry|delete|prune|rescue|pause|resume|activity), then
-- per op.
-- Job ops (ARGV[3] = id) answer {outcome, state, the job's hash as
-- field, value, ...} (one round trip): outcome is 'ok', 'missing' or 'refused'.
local now, op = clock(ARGV[1]), ARGV[2]
local unfinished = { scheduled = true, available = true, running = true }

local function drop_from_state_set(id, state)
  if state == 'running' then
    local token = redis.call('HGET', jkey(id), 'lt')
    redis.call('ZREM', K.running, id .. ':' .. token)
  else
    redis.call('ZREM', K[state], id)
  end
end

if op == 'pause' then redis.call('SET', K.paused, '1') return 1 end
if op == 'resume' then redis.call('DEL', K.paused) wake(16) return 1 end
if op == 'rescue' then return rescue(now, tonumber(ARGV[3])) end
if op == 'prune' then
  -- ARGV: succeeded retention (ms), dead/cancelled retention (ms), limit. Reads, then writes.
  local limit, pruned = tonumber(ARGV[5]), 0
  local cutoffs = { { 'succeeded', ARGV[3] }, { 'dead', ARGV[4] }, { 'cancelled', ARGV[4] } }
  for _, pair in ipairs(cutoffs) do
    local left = limit - pruned
    if left <= 0 then break end
    local cutoff = ms(now - tonumber(pair[2]))
    local ids = redis.call('ZRANGE', K[pair[1]], '-inf', '(' .. cutoff, 'BYSCORE', 'LIMIT', 0, left)
    if #ids > 0 then
      local keys, dks = {}, {}
      for i, id in ipairs(ids) do
        keys[i] = jkey(id)
        dks[i] = redis.call('HGET', keys[i], 'dk')
        if dks[i] then redis.call('GET', dkey(dks[i])) end
      end
      for i, id in ipairs(ids) do
        if dks[i] then release_key(id, dks[i], now) end
      end
      for j = 1, #keys, 1000 do redis.call('DEL', unpack(keys, j, math.min(j + 999, #keys))) end
      chunked('HDEL', K.args, ids)
      chunked('ZREM', K[pair[1]], ids)
      chunked('ZREM', K.all, ids)
      pruned = pruned + #ids
    end
  end
  return pruned
end

if op == 'activity' then
  -- ARGV[3..]: windows (ms). Answers {jobs in the queue, paused (0/1), the oldest available
  -- job's age (-1: none), then per window: succeeded, dead}. The available set is ordered by
  -- priority band, then run_at: the oldest is the earliest of each band's first, one seek a band.
  local band_width = 4398046511104
  local oldest, from = nil, '-inf'
  while true do
    local first = redis.call('ZRANGE', K.available, from, '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    if #first == 0 then break end
    local score = tonumber(first[2])
    local band = math.floor(score / band_width)
    local run_at = score - band * band_width
    if oldest == nil or run_at < oldest then oldest = run_at end
    from = ms((band + 1) * band_width)
  end
  local out = { redis.call('ZCARD', K.all), redis.call('EXISTS', K.paused), -1 }
  if oldest then out[3] = math.max(0, now - oldest) end
  for i = 3, #ARGV do
    local since = ms(now - tonumber(ARGV[i]))
    out[#out + 1] = redis.call('ZCOUNT', K.succeeded, since, '+inf')
    out[#out + 1] = redis.call('ZCOUNT', K.dead, since, '+inf')
  end
  return out
end

local id = ARGV[3]
local jk = jkey(id)
local state = redis.call('HGET', jk, 's')
if not state then return { 'missing', '' } end
-- The answer: the outcome, the state before, and the job as it is now (args from the queue's
-- args hash, when they live there).
local function answer(outcome)
  local out = { outcome, state }
  for _, v in ipairs(redis.call('HGETALL', jk)) do out[#out + 1] = v end
  local a = redis.call('HGET', K.args, id)
  if a then out[#out + 1] = 'a'; out[#out + 1] = a end
  return out
end
if op == 'cancel' then
  if state == 'running' then
    redis.call('HSET', jk, 'cr', '1')
    redis.call('SADD', K.cancel, id)
    return answer('ok')
  elseif state == 'scheduled' or state == 'available' then
    drop_from_state_set(id, state)
    finish(id, 'cancelled', now, {})
    return answer('ok')
  end
elseif op == 'discard' then
  if unfinished[state] then
    drop_from_state_set(id, state)
    local f = redis.call('HMGET', jk, 'n', 'e')
    finish(id, 'dead', now, { 'e', append_error(f[2], now, f[1], 'discarded', ARGV[4]) })
    return answer('ok')
  end
elseif op == 'retry' then
  if state == 'scheduled' or state == 'dead' or state == 'cancelled' then
    drop_from_state_set(id, state)
    local f = redis.call('HMGET', jk, 'n', 'm')
    local max = math.max(tonumber(f[2]), tonumber(f[1]) + 1)
    make_available(id, now, { 'f', '', 'cr', '0', 'm', max })
    redis.call('SREM', K.cancel, id)
    wake(1)
    return answer('ok')
  end
elseif op == 'delete' then
  -- As retention deletes: the dedup key answers on until its window ends.
  if state == 'succeeded' or state == 'dead' or state == 'cancelled' then
    local out = answer('ok')
    local dk = redis.call('HGET', jk, 'dk')
    if dk then release_key(id, dk, now) end
    redis.call('DEL', jk)
    redis.call('HDEL', K.args, id)
    redis.call('ZREM', K[state], id)
    redis.call('ZREM', K.all, id)
    return out
  end
end
return answer('refused')
