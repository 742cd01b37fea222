-- fetch: ARGV = now, limit, lease ttl (ms), worker, promote_limit, rescue_limit, then `limit`
-- tokens. Answers rescued, promoted, then 9 values per leased job:
-- id, token, kind, args, attempt, max_attempts, tenant, priority, run_at.
-- Each step reads the jobs it found before it writes anything (see common.lua).
local now, limit, worker = clock(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
local until_ms = ms(now + tonumber(ARGV[3]))
local rescued = rescue(now, tonumber(ARGV[6]))
local due = redis.call('ZRANGE', K.scheduled, '-inf', ms(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[5]))
if #due > 0 then
  local scores = {}
  for _, id in ipairs(due) do
    local f = redis.call('HMGET', jkey(id), 'p', 'r')
    scores[#scores + 1] = available_score(f[1], f[2]); scores[#scores + 1] = id
  end
  for _, id in ipairs(due) do redis.call('HSET', jkey(id), 's', 'available') end
  chunked('ZREM', K.scheduled, due)
  chunked('ZADD', K.available, scores)
end
local out = { rescued, #due }
if redis.call('EXISTS', K.paused) == 1 then return out end
local ids = redis.call('ZRANGE', K.available, 0, limit - 1)
if #ids == 0 then return out end
local rows = {}
local args = redis.call('HMGET', K.args, unpack(ids))
for idx, id in ipairs(ids) do
  rows[idx] = redis.call('HMGET', jkey(id), 'k', 'a', 'n', 'm', 't', 'p', 'r')
  -- Args live in the queue's args hash; jobs pushed before it kept them in their own hash.
  rows[idx][2] = args[idx] or rows[idx][2]
end
redis.call('ZREM', K.available, unpack(ids))
local leases = {}
for idx, id in ipairs(ids) do
  local token = ARGV[6 + idx]
  local f = rows[idx]
  local attempt = tonumber(f[3]) + 1
  redis.call('HSET', jkey(id), 'n', attempt, 's', 'running', 'w', worker, 'lt', token)
  leases[#leases + 1] = until_ms; leases[#leases + 1] = id .. ':' .. token
  out[#out + 1] = id; out[#out + 1] = token; out[#out + 1] = f[1]; out[#out + 1] = f[2]
  out[#out + 1] = attempt; out[#out + 1] = f[4]; out[#out + 1] = f[5]; out[#out + 1] = f[6]
  out[#out + 1] = f[7]
end
redis.call('ZADD', K.running, unpack(leases))
return out
