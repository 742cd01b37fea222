-- complete: ARGV = now, then 6 values per attempt: id, token, outcome, a, b, c, where outcome is
-- ok (a = result), retry (a = run_at, b = class, c = message), snooze (a = run_at),
-- abort (a = class, b = message) or cancelled. Answers one value per attempt: the new state, or
-- false when the lease is no longer held (fencing).
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 6 do
  local id, token, outcome, a, b, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local jk = jkey(id)
  local state = false
  if redis.call('ZREM', K.running, id .. ':' .. token) == 1 then
    if outcome == 'ok' then
      finish(id, 'succeeded', now, { 'res', a })
      state = 'succeeded'
    elseif outcome == 'retry' or outcome == 'abort' then
      local class, message = b, c
      if outcome == 'abort' then class, message = a, b end
      local f = redis.call('HMGET', jk, 'n', 'm', 'e')
      local errs = append_error(f[3], now, f[1], class, message)
      if outcome == 'abort' or tonumber(f[1]) >= tonumber(f[2]) then
        finish(id, 'dead', now, { 'e', errs })
        state = 'dead'
      else
        redis.call('HSET', jk, 's', 'scheduled', 'r', a, 'e', errs, 'w', '')
        redis.call('ZADD', K.scheduled, a, id)
        state = 'scheduled'
      end
    elseif outcome == 'snooze' then
      redis.call('HINCRBY', jk, 'n', -1)
      redis.call('HINCRBY', jk, 'sn', 1)
      redis.call('HSET', jk, 's', 'scheduled', 'r', a, 'w', '')
      redis.call('ZADD', K.scheduled, a, id)
      state = 'scheduled'
    else
      finish(id, 'cancelled', now, {})
      state = 'cancelled'
    end
  end
  out[#out + 1] = state
end
return out
