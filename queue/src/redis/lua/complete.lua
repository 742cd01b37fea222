-- complete: ARGV = now, then 6 values per attempt: id, token, outcome, a, b, c, where outcome is
-- ok (a = result), retry (a = run_at, b = class, c = message), snooze (a = run_at),
-- abort (a = class, b = message) or cancelled. Answers one value per attempt: the new state,
-- false when the lease is no longer held (fencing), or 'refused' for `cancelled` without a
-- cancel request. The branches follow `machine::step` (queue/src/machine.rs).
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 6 do
  local id, token, outcome, a, b, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local jk = jkey(id)
  local member = id .. ':' .. token
  local state = false
  if outcome == 'cancelled' and redis.call('HGET', jk, 'cr') ~= '1' then
    -- Only a real cancel request ends a job cancelled; the lease stays held.
    if redis.call('ZSCORE', K.running, member) then state = 'refused' end
  elseif redis.call('ZREM', K.running, member) == 1 then
    local asked = redis.call('HGET', jk, 'cr') == '1'
    if outcome == 'ok' then
      finish(id, 'succeeded', now, { 'res', a })
      state = 'succeeded'
    elseif outcome == 'retry' or outcome == 'abort' then
      local class, message = b, c
      if outcome == 'abort' then class, message = a, b end
      local f = redis.call('HMGET', jk, 'n', 'm', 'e')
      local errs = append_error(f[3], now, f[1], class, message)
      if outcome == 'retry' and asked then
        state = 'cancelled'
      elseif outcome == 'abort' or tonumber(f[1]) >= tonumber(f[2]) then
        state = 'dead'
      else
        redis.call('HSET', jk, 's', 'scheduled', 'r', a, 'e', errs, 'w', '')
        redis.call('ZADD', K.scheduled, a, id)
        state = 'scheduled'
      end
      if state ~= 'scheduled' then finish(id, state, now, { 'e', errs }) end
    elseif outcome == 'snooze' then
      redis.call('HINCRBY', jk, 'n', -1)
      redis.call('HINCRBY', jk, 'sn', 1)
      if asked then
        finish(id, 'cancelled', now, {})
        state = 'cancelled'
      else
        redis.call('HSET', jk, 's', 'scheduled', 'r', a, 'w', '')
        redis.call('ZADD', K.scheduled, a, id)
        state = 'scheduled'
      end
    else
      finish(id, 'cancelled', now, {})
      state = 'cancelled'
    end
  end
  out[#out + 1] = state
end
return out
