// The GCRA take as one Lua script, so read-decide-write is atomic across every app server.
//
// Time: by default the script reads Redis `TIME`. All app servers then share ONE clock (the Redis
// server's), so a replica whose clock is skewed can neither hand out free tokens nor starve a key.
// Redis 7 replicates scripts by effects, so calling TIME before a write is allowed. Tests pass an
// explicit `now` (ARGV[4]) from a FakeClock instead: a 250-request burst over real round-trips would
// otherwise refill a token every 20 ms while it runs, and the count would depend on machine speed.
//
// Mirrors gcraStep() in gcra.ts exactly; integer microseconds throughout (epoch µs < 2^53).
export const GCRA_TAKE_LUA = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[4])
end
local window = burst * interval
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + cost * interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, math.floor((now + window - tat) / interval), allow_at - now, tat - now}
end
if new_tat > now then
  -- The key expires exactly when the bucket is full again: an expired key and a full bucket are the same.
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
end
return {1, math.floor((now + window - new_tat) / interval), 0, new_tat - now}
`;
