-- push: ARGV = now, then 11 fields per job: id, kind, args, priority, run_at, max_attempts,
-- tenant, enqueued_by, dedup_key, dedup_until, fingerprint. Answers 3 values per job:
-- id, 1 if it was a duplicate (else 0), the existing job's fingerprint.
local now = tonumber(ARGV[1])
local out, available, scheduled, all = {}, {}, {}, {}
local i = 2
while i <= #ARGV do
  local id, kind, args, prio, run_at, max, tenant, by, dk, du, fp =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5], ARGV[i + 6],
    ARGV[i + 7], ARGV[i + 8], ARGV[i + 9], ARGV[i + 10]
  i = i + 11
  local duplicate = nil
  if dk ~= '' then
    local d = redis.call('GET', dkey(dk))
    if d then
      local eid, edu, efp = string.match(d, '^([^\n]*)\n([^\n]*)\n(.*)$')
      local st = redis.call('HGET', jkey(eid), 's')
      if st == 'scheduled' or st == 'available' or st == 'running' or tonumber(edu) > now then
        duplicate = { eid, 1, efp }
      end
    end
  end
  if duplicate then
    out[#out + 1] = duplicate[1]; out[#out + 1] = duplicate[2]; out[#out + 1] = duplicate[3]
  else
    local state = 'scheduled'
    if run_at <= now then state = 'available' end
    redis.call('HSET', jkey(id), 'k', kind, 'a', args, 'p', prio, 'r', run_at, 'n', 0, 'm', max,
      's', state, 'c', now)
    -- Optional fields only when set (fewer fields: less work per push; readers default them).
    if tenant ~= '' then redis.call('HSET', jkey(id), 't', tenant) end
    if by ~= '' then redis.call('HSET', jkey(id), 'by', by) end
    if state == 'available' then
      available[#available + 1] = available_score(prio, run_at); available[#available + 1] = id
    else
      scheduled[#scheduled + 1] = run_at; scheduled[#scheduled + 1] = id
    end
    all[#all + 1] = 0; all[#all + 1] = id
    if dk ~= '' then
      redis.call('HSET', jkey(id), 'dk', dk)
      redis.call('SET', dkey(dk), id .. '\n' .. du .. '\n' .. fp)
    end
    out[#out + 1] = id; out[#out + 1] = 0; out[#out + 1] = ''
  end
end
if #available > 0 then chunked('ZADD', K.available, available) end
if #scheduled > 0 then chunked('ZADD', K.scheduled, scheduled) end
if #all > 0 then chunked('ZADD', K.all, all) end
if #available > 0 then wake(#available) end
return out
