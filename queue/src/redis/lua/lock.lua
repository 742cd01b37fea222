-- lock: `lock_step` (queue/src/lock.rs) on one lock. KEYS[1] = the lock's hash (t = last token,
-- e = held until, 0 when released); ARGV = now ('' for the server's TIME), op (take|renew|
-- release|peek), ttl (ms), token. Answers the token taken (0: held by another) or 1/0: whether the
-- renewal or release held, or (peek) whether anyone holds the lock. The hash stays once released, so tokens keep growing.
-- Self-contained (not common.lua): it touches no queue.
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local op, ttl, token = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 't', 'e')
local last, expires = tonumber(f[1] or '0'), tonumber(f[2] or '0')
local held = last == token and expires > now
if op == 'take' then
  if expires > now then return 0 end
  redis.call('HSET', KEYS[1], 't', last + 1, 'e', string.format('%.0f', now + ttl))
  return last + 1
elseif op == 'renew' and held then
  redis.call('HSET', KEYS[1], 'e', string.format('%.0f', now + ttl))
  return 1
elseif op == 'release' and held then
  redis.call('HSET', KEYS[1], 'e', 0)
  return 1
elseif op == 'peek' then
  if expires > now then return 1 end
end
return 0
