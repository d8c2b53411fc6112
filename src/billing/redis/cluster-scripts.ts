// Lua for the balance store on a Redis Cluster (cluster-keys.ts has the layout). Each script names
// keys of ONE bucket only and derives further keys from ARGV's bucket tag, so all of them hash to one
// slot. The money logic is the standalone store's (scripts.ts); what differs is the ready check:
//
// A standalone store learns a restart from the server's run id. On a cluster the dangerous event is a
// failover: the promoted replica carries the data as far as asynchronous replication got, so writes
// the old master acknowledged may be missing, while the bucket's ready marker replicated long ago still
// says "complete". So the marker holds the replication id of the master that rebuilt it, and every
// money script compares it with its own node's: a promotion starts a new replication id, and from the
// first command on the new master the bucket answers NOTREADY until it is rebuilt from the ledger.
import { LuaScript } from "./lua-script";

/** true when gen exists and was written by this node's current replication history. */
const READY_FN = `
local function ready(gen)
  local g = redis.call('GET', gen)
  if not g then return false end
  return g == string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)')
end
`;

export const C_READY = new LuaScript(
  "cluster-ready",
  `${READY_FN}
-- KEYS: gen
if ready(KEYS[1]) then return 1 end
return 0
`,
);

export const C_RESERVE = new LuaScript(
  "cluster-reserve",
  `${READY_FN}
-- KEYS: gen, customer, customerPending, hold, expiry, customers; ARGV: customerId, requestId, amountMicros, expiresAtMs
if not ready(KEYS[1]) then return {'NOTREADY'} end
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

export const C_SETTLE = new LuaScript(
  "cluster-settle",
  `${READY_FN}
-- KEYS: gen, hold, expiry, customers
-- ARGV: requestId, op, actualMicros, nowMs, tombstoneTtlMs, mirrored, mirrorCustomer, mirrorHeld, holdSeq, settleSeq, bucketTag
local function fmt(n) return string.format('%d', n) end
if not ready(KEYS[1]) then return {'NOTREADY'} end
local op = ARGV[2]
local state = ({post = 'posted', void = 'voided', expire = 'expired', cancel = 'cancelled'})[op]
local tag = ARGV[11]
local mirrored = ARGV[6] == '1'
local captured = 0
if op == 'post' then captured = tonumber(ARGV[3]) end
local h = redis.call('HMGET', KEYS[2], 'c', 'amt', 'exp', 'st', 'cap', 'rel')
local st = h[4]
local function reply(status) return {status, h[1], h[2], h[3], h[4], h[5], h[6]} end
if st == 'pending' then
  local c = h[1]
  local held = tonumber(h[2])
  local ckey = tag .. ':c:' .. c
  if mirrored then
    if tonumber(ARGV[10]) <= tonumber(redis.call('HGET', ckey, 'snap') or '0') then return reply('INCONSISTENT') end
  elseif op == 'expire' and tonumber(ARGV[4]) < tonumber(h[3]) then
    return reply('NOTEXPIRED')
  end
  if captured > held then return reply('OVERCAPTURE') end
  redis.call('HINCRBY', ckey, 'avail', fmt(held - captured))
  redis.call('HINCRBY', ckey, 'held', fmt(-held))
  redis.call('SREM', tag .. ':cp:' .. c, ARGV[1])
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
-- The ledger settled a hold whose debit this store does not carry (reserved before the last rebuild,
-- recorded after it, or cancelled here, or lost in a failover): apply hold + settlement's net effect once.
local c = ARGV[7]
local ckey = tag .. ':c:' .. c
local snap = tonumber(redis.call('HGET', ckey, 'snap') or '0')
if tonumber(ARGV[10]) <= snap then return reply('ALREADY') end
if tonumber(ARGV[9]) <= snap then return reply('INCONSISTENT') end
local held = tonumber(ARGV[8])
if captured > held then return {'OVERCAPTURE'} end
redis.call('HINCRBY', ckey, 'avail', fmt(-captured))
redis.call('SADD', KEYS[4], c)
redis.call('HSET', KEYS[2], 'c', c, 'amt', ARGV[8], 'exp', '0', 'st', state, 'cap', fmt(captured), 'rel', fmt(held - captured))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'APPLIED', c, ARGV[8], '0', state, fmt(captured), fmt(held - captured)}
`,
);

export const C_RENEW = new LuaScript(
  "cluster-renew",
  `-- KEYS: hold, expiry; ARGV: requestId, expiresAtMs
local h = redis.call('HMGET', KEYS[1], 'st', 'exp')
if h[1] ~= 'pending' then return 0 end
if tonumber(h[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'exp', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 1
`,
);

export const C_CREDIT = new LuaScript(
  "cluster-credit",
  `${READY_FN}
-- KEYS: gen, customer, marker, customers; ARGV: customerId, amountMicros, seq ('' = unmirrored), markerTtlMs
if not ready(KEYS[1]) then return {'NOTREADY'} end
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

export const C_BALANCE = new LuaScript(
  "cluster-balance",
  `${READY_FN}
-- KEYS: gen, customer
if not ready(KEYS[1]) then return {'NOTREADY'} end
local v = redis.call('HMGET', KEYS[2], 'avail', 'held')
return {'OK', v[1] or '0', v[2] or '0'}
`,
);

export const C_LOCK_BUCKET = new LuaScript(
  "cluster-lock-bucket",
  `-- KEYS: gen, lock; ARGV: token, lockTtlMs. The global rebuild lock is already ours.
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`,
);

/** Compare-and-act on the global rebuild lock (one key): 'refresh' extends it, 'release' deletes it. */
export const C_GLOBAL_LOCK = new LuaScript(
  "cluster-global-lock",
  `-- KEYS: lock; ARGV: token, 'refresh' | 'release', lockTtlMs
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`,
);

export const C_RESYNC = new LuaScript(
  "cluster-resync",
  `${READY_FN}
-- KEYS: gen, lock, expiry, customers; ARGV: bucketTag, token ('' = repair of a ready store), lockTtlMs, json
-- json: [{c: customer, b: balance, s: seq, h: [[requestId, amount, expiresAt], ...]}, ...] (numbers as strings)
-- Replies {'OK', dropped request ids...}: the caller lets their request index expire.
if ARGV[2] == '' then
  if not ready(KEYS[1]) then return {'NOTREADY'} end
else
  if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {'LOSTLOCK'} end
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local tag = ARGV[1]
local dropped = {'OK'}
for _, s in ipairs(cjson.decode(ARGV[4])) do
  local ckey = tag .. ':c:' .. s.c
  local pkey = tag .. ':cp:' .. s.c
  local open = {}
  for _, h in ipairs(s.h) do open[h[1]] = true end
  -- A pending hold the ledger does not list goes, and its debit with it (the balance comes from the ledger).
  for _, rid in ipairs(redis.call('SMEMBERS', pkey)) do
    if not open[rid] then
      redis.call('DEL', tag .. ':h:' .. rid)
      redis.call('ZREM', KEYS[3], rid)
      table.insert(dropped, rid)
    end
  end
  redis.call('DEL', pkey)
  local held = 0
  for _, h in ipairs(s.h) do
    local hkey = tag .. ':h:' .. h[1]
    redis.call('DEL', hkey)
    redis.call('HSET', hkey, 'c', s.c, 'amt', h[2], 'exp', h[3], 'st', 'pending', 'cap', '0', 'rel', '0')
    redis.call('SADD', pkey, h[1])
    redis.call('ZADD', KEYS[3], h[3], h[1])
    held = held + tonumber(h[2])
  end
  redis.call('HSET', ckey, 'avail', s.b, 'held', string.format('%d', held), 'snap', s.s)
  redis.call('SADD', KEYS[4], s.c)
end
return dropped
`,
);

export const C_FINISH_BUCKET = new LuaScript(
  "cluster-finish-bucket",
  `-- KEYS: gen, lock; ARGV: token. The marker records this master's replication id (see above).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)'))
redis.call('DEL', KEYS[2])
return 1
`,
);
