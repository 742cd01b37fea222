-- release: ARGV = now, then id, token pairs. Jobs go back to available with the attempt
-- refunded (cancelled when a cancel was requested). Answers how many were released.
local now = clock(ARGV[1])
local released = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('ZREM', K.running, id .. ':' .. ARGV[i + 1]) == 1 then
    released = released + 1
    redis.call('HINCRBY', jkey(id), 'n', -1)
    if redis.call('HGET', jkey(id), 'cr') == '1' then
      finish(id, 'cancelled', now, {})
    else
      local r = redis.call('HGET', jkey(id), 'r')
      make_available(id, tonumber(r), {})
    end
  end
end
if released > 0 then wake(released) end
return released
