// Lua for the Redis balance store. Each script is one atomic step; every money script first checks the
// generation key, whose absence means "flushed or restarted, not rebuilt from the ledger yet".
//
// Keys (P = prefix): P:gen, P:runid, P:rebuild-lock, P:customers (set), P:exp (zset of pending holds by
// expiry), P:c:<customer> (hash avail/held/snap), P:cp:<customer> (set of its pending request ids),
// P:h:<request> (hash c/amt/exp/st/cap/rel), P:cr:<customer>:<seq> (credit marker), P:outbox (hash).
// Some keys are derived inside the scripts and some scripts span customers, so this layout needs a
// standalone Redis; a Redis Cluster gets cluster-keys.ts / cluster-scripts.ts (open-store.ts picks).
//
// Numbers written back go through string.format('%d'): Lua's default number-to-string would print
// large integers in exponent form, which HINCRBY then refuses.
import { LuaScript } from "./lua-script";

export const RESERVE = new LuaScript(
  "reserve",
  `-- KEYS: gen, customer, customerPending, hold, expiry, customers; ARGV: customerId, requestId, amountMicros, expiresAtMs
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOTREADY'} end
local avail = tonumber(redis.call('HGET', KEYS[2], 'avail') or '0')
local h = redis.call('HMGET', KEYS[4], 'c', 'amt', 'exp', 'st', 'cap', 'rel')
-- A cancelled record means the ledger never took that attempt: the request id may reserve again.
if h[4] and h[4] ~= 'cancelled' then return {'DUPLICATE', avail, h[1], h[2], h[3], h[4], h[5], h[6]} end
local amount = tonumber(ARGV[3])
if avail < amount then return {'INSUFFICIENT', avail} end
redis.call('HINCRBY', KEYS[2], 'avail', '-' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 'held', ARGV[3])
redis.call('HSET', KEYS[4], 'c', ARGV[1], 'amt', ARGV[3], 'exp', ARGV[4], 'st', 'pending', 'cap', '0', 'rel', '0')
if h[4] then redis.call('PERSIST', KEYS[4]) end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[6], ARGV[1])
return {'HELD', avail - amount}
`,
);

export const SETTLE = new LuaScript(
  "settle",
  `-- KEYS: gen, hold, expiry
-- ARGV: requestId, op, actualMicros, nowMs, tombstoneTtlMs, mirrored, mirrorCustomer, mirrorHeld, holdSeq, settleSeq, prefix
local function fmt(n) return string.format('%d', n) end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOTREADY'} end
local op = ARGV[2]
local state = ({post = 'posted', void = 'voided', expire = 'expired', cancel = 'cancelled'})[op]
local prefix = ARGV[11]
local mirrored = ARGV[6] == '1'
local captured = 0
if op == 'post' then captured = tonumber(ARGV[3]) end
-- One read of the record; replies are built from it (and from what this script writes).
local h = redis.call('HMGET', KEYS[2], 'c', 'amt', 'exp', 'st', 'cap', 'rel')
local st = h[4]
local function reply(status) return {status, h[1], h[2], h[3], h[4], h[5], h[6]} end
if st == 'pending' then
  local c = h[1]
  local held = tonumber(h[2])
  local ckey = prefix .. ':c:' .. c
  if mirrored then
    if tonumber(ARGV[10]) <= tonumber(redis.call('HGET', ckey, 'snap') or '0') then return reply('INCONSISTENT') end
  elseif op == 'expire' and tonumber(ARGV[4]) < tonumber(h[3]) then
    return reply('NOTEXPIRED')
  end
  if captured > held then return reply('OVERCAPTURE') end
  redis.call('HINCRBY', ckey, 'avail', fmt(held - captured))
  redis.call('HINCRBY', ckey, 'held', fmt(-held))
  redis.call('SREM', prefix .. ':cp:' .. c, ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[2], 'st', state, 'cap', fmt(captured), 'rel', fmt(held - captured))
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  h[4], h[5], h[6] = state, fmt(captured), fmt(held - captured)
  return reply('APPLIED')
end
if not mirrored then
  if st then return reply('ALREADY') end
  return {'UNKNOWN'}
end
if st and st ~= 'cancelled' then return reply('ALREADY') end
-- The ledger settled a hold whose debit this store does not carry: recorded after the last rebuild
-- but reserved before it (or cancelled here): apply the net effect of hold + settlement once.
local c = ARGV[7]
local ckey = prefix .. ':c:' .. c
local snap = tonumber(redis.call('HGET', ckey, 'snap') or '0')
if tonumber(ARGV[10]) <= snap then return reply('ALREADY') end
if tonumber(ARGV[9]) <= snap then return reply('INCONSISTENT') end
local held = tonumber(ARGV[8])
if captured > held then return {'OVERCAPTURE'} end
redis.call('HINCRBY', ckey, 'avail', fmt(-captured))
redis.call('SADD', prefix .. ':customers', c)
redis.call('HSET', KEYS[2], 'c', c, 'amt', ARGV[8], 'exp', '0', 'st', state, 'cap', fmt(captured), 'rel', fmt(held - captured))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'APPLIED', c, ARGV[8], '0', state, fmt(captured), fmt(held - captured)}
`,
);

export const RENEW = new LuaScript(
  "renew",
  `-- KEYS: hold, expiry; ARGV: requestId, expiresAtMs
-- Only a pending hold is renewed, and never to an earlier expiry (a late heartbeat changes nothing).
local h = redis.call('HMGET', KEYS[1], 'st', 'exp')
if h[1] ~= 'pending' then return 0 end
if tonumber(h[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'exp', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 1
`,
);

export const CREDIT = new LuaScript(
  "credit",
  `-- KEYS: gen, customer, marker, customers; ARGV: customerId, amountMicros, seq ('' = unmirrored), markerTtlMs
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOTREADY'} end
if ARGV[3] ~= '' then
  local avail = tonumber(redis.call('HGET', KEYS[2], 'avail') or '0')
  if tonumber(ARGV[3]) <= tonumber(redis.call('HGET', KEYS[2], 'snap') or '0') then return {'ALREADY', avail} end
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[4]) then return {'ALREADY', avail} end
end
local avail = redis.call('HINCRBY', KEYS[2], 'avail', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
return {'APPLIED', avail}
`,
);

export const BALANCE = new LuaScript(
  "balance",
  `-- KEYS: gen, customer
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOTREADY'} end
local v = redis.call('HMGET', KEYS[2], 'avail', 'held')
return {'OK', v[1] or '0', v[2] or '0'}
`,
);

export const BEGIN_REBUILD = new LuaScript(
  "begin-rebuild",
  `-- KEYS: gen, lock; ARGV: token, lockTtlMs
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);

export const RESYNC = new LuaScript(
  "resync",
  `-- KEYS: gen, lock, expiry, customers; ARGV: prefix, token ('' = repair of a ready store), lockTtlMs, json
-- json: [{c: customer, b: balance, s: seq, h: [[requestId, amount, expiresAt], ...]}, ...] (numbers as strings)
if ARGV[2] == '' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTREADY' end
else
  if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'LOSTLOCK' end
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local prefix = ARGV[1]
for _, s in ipairs(cjson.decode(ARGV[4])) do
  local ckey = prefix .. ':c:' .. s.c
  local pkey = prefix .. ':cp:' .. s.c
  local open = {}
  for _, h in ipairs(s.h) do open[h[1]] = true end
  -- A pending hold the ledger does not list goes, and its debit with it (the balance comes from the ledger).
  for _, rid in ipairs(redis.call('SMEMBERS', pkey)) do
    if not open[rid] then
      redis.call('DEL', prefix .. ':h:' .. rid)
      redis.call('ZREM', KEYS[3], rid)
    end
  end
  redis.call('DEL', pkey)
  local held = 0
  for _, h in ipairs(s.h) do
    local hkey = prefix .. ':h:' .. h[1]
    redis.call('DEL', hkey)
    redis.call('HSET', hkey, 'c', s.c, 'amt', h[2], 'exp', h[3], 'st', 'pending', 'cap', '0', 'rel', '0')
    redis.call('SADD', pkey, h[1])
    redis.call('ZADD', KEYS[3], h[3], h[1])
    held = held + tonumber(h[2])
  end
  redis.call('HSET', ckey, 'avail', s.b, 'held', string.format('%d', held), 'snap', s.s)
  redis.call('SADD', KEYS[4], s.c)
end
return 'OK'
`,
);

export const FINISH_REBUILD = new LuaScript(
  "finish-rebuild",
  `-- KEYS: gen, lock, runid; ARGV: token, generation, runId
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
`,
);
