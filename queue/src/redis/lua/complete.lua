-- complete: ARGV = now, then 6 values per attempt: id, token, outcome, a, b, c, where outcome is
-- ok (a = result), retry (a = delay in ms, b = class, c = message), snooze (a = delay in ms),
-- blocked (a snooze recording its reason: a = delay in ms, b = class, c = message), abort (a = class, b = message) or cancelled. Answers one value per attempt: the new state,
-- false when the lease is no longer held (fencing), or 'refused' for `cancelled` without a
-- cancel request. The branches follow `machine::step` (queue/src/machine.rs). Fencing, cancel
-- requests and dedup keys are read for the whole batch at once, and the set updates are written
-- at once at the end: per job, a success costs one HSET.
-- `now` is formatted once, not per job.
local now = clock(ARGV[1])
local nowstr = ms(now)
local n = (#ARGV - 1) / 6
if n < 1 then return {} end
local ids, members = {}, {}
for i = 1, n do
  local at = 2 + (i - 1) * 6
  ids[i] = ARGV[at]
  members[i] = ARGV[at] .. ':' .. ARGV[at + 1]
end
local held = redis.call('ZMSCORE', K.running, unpack(members))
local asked = redis.call('SMISMEMBER', K.cancel, unpack(ids))
local out, gone, ended, unasked, seen = {}, {}, {}, {}, {}
-- A job ends in `state` (its hash already written): the state set and its cancel request.
local function ended_in(state, id, i)
  local set = ended[state]
  if not set then set = {}; ended[state] = set end
  set[#set + 1] = nowstr; set[#set + 1] = id
  if asked[i] == 1 then unasked[#unasked + 1] = id end
end
-- The worker field is left as is: readers show it only while the job runs.
local function ends(state, id, i, fields)
  redis.call('HSET', jkey(id), 's', state, 'f', nowstr, unpack(fields))
  ended_in(state, id, i)
end
for i = 1, n do
  local at = 2 + (i - 1) * 6
  local id, outcome, a, b, c = ids[i], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5]
  local jk = jkey(id)
  local cr = asked[i] == 1
  local state = false
  if not held[i] or seen[members[i]] then
    state = false
  elseif outcome == 'cancelled' and not cr then
    -- Only a real cancel request ends a job cancelled; the lease stays held.
    state = 'refused'
  else
    seen[members[i]] = true
    gone[#gone + 1] = members[i]
    if outcome == 'ok' then
      -- The hot path, written out: one HSET of three fields.
      state = 'succeeded'
      redis.call('HSET', jk, 's', state, 'f', nowstr, 'res', a)
      ended_in(state, id, i)
    elseif outcome == 'retry' or outcome == 'abort' then
      local class, message = b, c
      if outcome == 'abort' then class, message = a, b end
      local f = redis.call('HMGET', jk, 'n', 'm', 'e')
      local errs = append_error(f[3], now, f[1], class, message)
      if outcome == 'retry' and cr then
        state = 'cancelled'
      elseif outcome == 'abort' or tonumber(f[1]) >= tonumber(f[2]) then
        state = 'dead'
      else
        state = 'scheduled'
        local run_at = ms(now + tonumber(a))
        redis.call('HSET', jk, 's', 'scheduled', 'r', run_at, 'e', errs)
        redis.call('ZADD', K.scheduled, run_at, id)
      end
      if state ~= 'scheduled' then ends(state, id, i, { 'e', errs }) end
    elseif outcome == 'snooze' or outcome == 'blocked' then
      if outcome == 'blocked' then
        -- Recorded before the attempt is refunded: the entry names the attempt it interrupted.
        local f = redis.call('HMGET', jk, 'n', 'e')
        redis.call('HSET', jk, 'e', append_error(f[2], now, f[1], b, c))
      end
      redis.call('HINCRBY', jk, 'n', -1)
      redis.call('HINCRBY', jk, 'sn', 1)
      if cr then
        state = 'cancelled'
        ends(state, id, i, {})
      else
        state = 'scheduled'
        local run_at = ms(now + tonumber(a))
        redis.call('HSET', jk, 's', 'scheduled', 'r', run_at)
        redis.call('ZADD', K.scheduled, run_at, id)
      end
    else
      state = 'cancelled'
      ends(state, id, i, {})
    end
  end
  out[i] = state
end
if #gone > 0 then redis.call('ZREM', K.running, unpack(gone)) end
for state, set in pairs(ended) do redis.call('ZADD', K[state], unpack(set)) end
if #unasked > 0 then redis.call('SREM', K.cancel, unpack(unasked)) end
return out
