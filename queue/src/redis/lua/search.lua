-- search: ARGV = now (unused), max (a BYLEX bound: '+' or '(<id>'), budget, want, then the
-- filters state, kind, tenant, text, enqueued_by ('' for none). Walks the queue's ids newest first below
-- `max`, reading at most `budget` jobs, and stops once `want` match. Answers
-- { the last id examined ('' for none), 1 if the queue was read to its end else 0, ids... }.
-- Read-only. Text matches the args as stored (their compact JSON), as on SQLite. A page's args
-- come in one HMGET of the queue's args hash; job hashes are read only to filter by state, kind
-- tenant or enqueuer (or for a job pushed before args had a hash of their own).
local max, budget, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local state, kind, tenant, text, by = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local by_fields = state ~= '' or kind ~= '' or tenant ~= '' or by ~= ''
local examined, last, matches = 0, '', {}
while examined < budget do
  local n = math.min(1000, budget - examined)
  local ids = redis.call('ZRANGE', K.all, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, n)
  if #ids == 0 then return { last, 1, unpack(matches) } end
  local args = redis.call('HMGET', K.args, unpack(ids))
  for i, id in ipairs(ids) do
    examined = examined + 1
    last = id
    local a, ok = args[i], true
    if by_fields or not a then
      local f = redis.call('HMGET', jkey(id), 's', 'k', 't', 'a', 'by')
      a = a or f[4]
      ok = f[1] and (state == '' or f[1] == state) and (kind == '' or f[2] == kind)
        and (tenant == '' or f[3] == tenant) and (by == '' or f[5] == by)
    end
    if ok and a and (text == '' or string.find(a, text, 1, true)) then
      matches[#matches + 1] = id
      if #matches >= want then return { last, 0, unpack(matches) } end
    end
  end
  if #ids < n then return { last, 1, unpack(matches) } end
  max = '(' .. last
end
return { last, 0, unpack(matches) }
