-- push: ARGV = now, then 11 fields per job: id, kind, args, priority, run_at ('' for now),
-- max_attempts, tenant, enqueued_by, dedup_key, dedup window (ms), fingerprint. Answers 3 values
-- per job:
-- id, 1 if it was a duplicate (else 0), the existing job's fingerprint. A call may be a retry
-- of one that was applied and lost its reply: its jobs that exist are answered as pushed, not
-- written twice. Scripts apply whole or not at all, so one job without a dedup key (always new
-- on a first try) tells whether this is a replay; with none, each job is looked up. Every
-- look-up comes first, then every write (see common.lua).
local now = clock(ARGV[1])
local nowstr = ms(now)
local out, available, scheduled, all, argv = {}, {}, {}, {}, {}
local fresh, claimed = {}, {}
local replay = true
for i = 2, #ARGV, 11 do
  if ARGV[i + 8] == '' then
    replay = redis.call('EXISTS', jkey(ARGV[i])) == 1
    break
  end
end
for i = 2, #ARGV, 11 do
  local id, dk, fp = ARGV[i], ARGV[i + 8], ARGV[i + 10]
  local answer = nil
  if replay and redis.call('EXISTS', jkey(id)) == 1 then
    answer = { id, 0, '' }
  elseif dk ~= '' then
    if claimed[dk] then
      -- An earlier job of this very call took the key.
      answer = { claimed[dk][1], 1, claimed[dk][2] }
    else
      local d = redis.call('GET', dkey(dk))
      if d then
        local eid, edu, efp = string.match(d, '^([^\n]*)\n([^\n]*)\n(.*)$')
        local st = redis.call('HGET', jkey(eid), 's')
        if st == 'scheduled' or st == 'available' or st == 'running' or tonumber(edu) > now then
          answer = { eid, 1, efp }
        end
      end
    end
    if not answer then claimed[dk] = { id, fp } end
  end
  local n = #out
  if answer then
    out[n + 1] = answer[1]; out[n + 2] = answer[2]; out[n + 3] = answer[3]
  else
    fresh[#fresh + 1] = i
    out[n + 1] = id; out[n + 2] = 0; out[n + 3] = ''
  end
end
for _, i in ipairs(fresh) do
  local id, kind, args, prio, run_at, max, tenant, by, dk, window, fp =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6],
    ARGV[i + 7], ARGV[i + 8], ARGV[i + 9], ARGV[i + 10]
  local run_at_str = nowstr
  if run_at == '' then run_at = now else run_at = tonumber(run_at); run_at_str = ms(run_at) end
  local state = 'scheduled'
  if run_at <= now then state = 'available' end
  if tenant == '' and by == '' and dk == '' then
    redis.call('HSET', jkey(id), 'k', kind, 'p', prio, 'r', run_at_str, 'n', 0, 'm', max,
      's', state, 'c', nowstr)
  else
    -- Optional fields only when set (fewer fields: less work per push; readers default them).
    local f = { 'k', kind, 'p', prio, 'r', run_at_str, 'n', 0, 'm', max, 's', state, 'c', nowstr }
    if tenant ~= '' then f[#f + 1] = 't'; f[#f + 1] = tenant end
    if by ~= '' then f[#f + 1] = 'by'; f[#f + 1] = by end
    if dk ~= '' then f[#f + 1] = 'dk'; f[#f + 1] = dk end
    redis.call('HSET', jkey(id), unpack(f))
  end
  argv[#argv + 1] = id; argv[#argv + 1] = args
  if state == 'available' then
    available[#available + 1] = available_score(prio, run_at); available[#available + 1] = id
  else
    scheduled[#scheduled + 1] = run_at_str; scheduled[#scheduled + 1] = id
  end
  all[#all + 1] = 0; all[#all + 1] = id
  if dk ~= '' then
    redis.call('SET', dkey(dk), id .. '\n' .. ms(now + tonumber(window)) .. '\n' .. fp)
  end
end
if #available > 0 then chunked('ZADD', K.available, available) end
if #scheduled > 0 then chunked('ZADD', K.scheduled, scheduled) end
if #all > 0 then chunked('ZADD', K.all, all) end
if #argv > 0 then chunked('HSET', K.args, argv) end
if #available > 0 then wake(#available) end
return out
