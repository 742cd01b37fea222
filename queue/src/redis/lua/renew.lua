-- renew: ARGV = now, lease ttl (ms), then id, token pairs. Answers two lists: the indexes
-- (1-based) of leases lost, and of leases whose job has a cancel request.
local now = clock(ARGV[1])
local until_ms = ms(now + tonumber(ARGV[2]))
local members, ids = {}, {}
for i = 3, #ARGV, 2 do
  members[#members + 1] = ARGV[i] .. ':' .. ARGV[i + 1]
  ids[#ids + 1] = ARGV[i]
end
local scores = redis.call('ZMSCORE', K.running, unpack(members))
local cancels = redis.call('SMISMEMBER', K.cancel, unpack(ids))
local lost, cancel, held = {}, {}, {}
for i, score in ipairs(scores) do
  if score == false or tonumber(score) <= now then
    lost[#lost + 1] = i
  else
    held[#held + 1] = until_ms; held[#held + 1] = members[i]
    if cancels[i] == 1 then cancel[#cancel + 1] = i end
  end
end
if #held > 0 then redis.call('ZADD', K.running, 'XX', unpack(held)) end
return { lost, cancel }
