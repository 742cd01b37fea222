-- complete: ARGV = now, id, token, outcome (ok|retry|snooze|abort|cancelled), then per outcome:
-- ok: result; retry: run_at, class, message; snooze: run_at; abort: class, message.
-- Answers the new state, or false when the lease is no longer held (fencing).
local now, id, token, outcome = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZREM', K.running, id .. ':' .. token) == 0 then return false end
local jk = jkey(id)
if outcome == 'ok' then
  finish(id, 'succeeded', now, { 'res', ARGV[5] })
  return 'succeeded'
elseif outcome == 'retry' or outcome == 'abort' then
  local class, message = ARGV[6], ARGV[7]
  if outcome == 'abort' then class, message = ARGV[5], ARGV[6] end
  local f = redis.call('HMGET', jk, 'n', 'm', 'e')
  local errs = append_error(f[3], now, f[1], class, message)
  if outcome == 'abort' or tonumber(f[1]) >= tonumber(f[2]) then
    finish(id, 'dead', now, { 'e', errs })
    return 'dead'
  end
  redis.call('HSET', jk, 's', 'scheduled', 'r', ARGV[5], 'e', errs, 'w', '')
  redis.call('ZADD', K.scheduled, ARGV[5], id)
  return 'scheduled'
elseif outcome == 'snooze' then
  redis.call('HINCRBY', jk, 'n', -1)
  redis.call('HINCRBY', jk, 'sn', 1)
  redis.call('HSET', jk, 's', 'scheduled', 'r', ARGV[5], 'w', '')
  redis.call('ZADD', K.scheduled, ARGV[5], id)
  return 'scheduled'
else
  finish(id, 'cancelled', now, {})
  return 'cancelled'
end
