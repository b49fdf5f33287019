"""The Lua script of the ``redis`` backend: every queued operation of a batch, run atomically inside Redis.

One script, ``BATCH``, runs a list of operations in order, each on its own
slice of KEYS and its own ARGV string: ``reserve`` (check every window and budget, then hold
on all of them, or on none), ``settle``/``release``, ``cancel`` (a request out of its
windows, as if never admitted) and ``snapshot``. Redis
runs a script atomically, so no other client's command runs between a check
and its hold, and one round trip carries a whole batch.

A window is a sorted set ``<key>:z`` (member: reservation id, score: admit
time) and a hash ``<key>:h`` (reservation id -> tokens, plus ``_sum``, the
total). A budget counter is a hash ``<key>`` (``ut``/``uc`` used tokens and
cost, ``rt``/``rc`` reserved) and a sorted set ``<key>:x`` of its holds
(member ``<id>:<tokens>:<cost>``, score: when the hold lapses). Entries that left a window and
holds that lapsed are removed whenever the counter is touched; keys carry
TTLs, so idle windows and past periods remove themselves.

Numbers travel as decimal strings: Redis would truncate a Lua float reply to
an integer, and ``HINCRBY`` wants integer text.
"""

from __future__ import annotations

__all__ = ["BATCH"]

BATCH = r"""
local function int(x) return string.format('%d', x) end
local function num(x) return string.format('%.17g', x) end

-- Delete the fields `ids` of hash `h` (in chunks: unpack has a stack limit); return the sum of their values.
local function hdel_sum(h, ids)
  local freed = 0
  for s = 1, #ids, 1000 do
    local chunk = {}
    for j = s, math.min(s + 999, #ids) do chunk[#chunk + 1] = ids[j] end
    local vals = redis.call('HMGET', h, unpack(chunk))
    for j = 1, #vals do freed = freed + (tonumber(vals[j]) or 0) end
    redis.call('HDEL', h, unpack(chunk))
  end
  return freed
end

-- Drop the entries of window (z, h) admitted at or before `cutoff`; return (requests, tokens) left.
local function prune_window(z, h, cutoff)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', num(cutoff))
  if #old > 0 then
    local freed = hdel_sum(h, old)
    redis.call('ZREMRANGEBYSCORE', z, '-inf', num(cutoff))
    redis.call('HINCRBY', h, '_sum', int(-freed))
  end
  return redis.call('ZCARD', z), tonumber(redis.call('HGET', h, '_sum') or '0')
end

-- The tokens and cost of hold members `rid:tokens:cost`, summed.
local function hold_sums(members)
  local t, c = 0, 0
  for j = 1, #members do
    local mt, mc = string.match(members[j], ':(%-?%d+):(%-?%d+)$')
    t = t + tonumber(mt)
    c = c + tonumber(mc)
  end
  return t, c
end

-- Drop the holds of budget (b, x) that lapsed at or before `now`; return used and reserved totals.
local function prune_budget(b, x, now)
  local dead = redis.call('ZRANGEBYSCORE', x, '-inf', num(now))
  if #dead > 0 then
    local ft, fc = hold_sums(dead)
    redis.call('ZREMRANGEBYSCORE', x, '-inf', num(now))
    redis.call('HINCRBY', b, 'rt', int(-ft))
    redis.call('HINCRBY', b, 'rc', int(-fc))
  end
  local f = redis.call('HMGET', b, 'ut', 'uc', 'rt', 'rc')
  return tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0'), tonumber(f[4] or '0')
end

-- reserve. KEYS: per window z, h; then per budget b, x.
-- fields: now, window, rid, expires_at, nw, nb, tokens, cost; per window rpm, tpm (-1: none);
--       per budget max_tokens, max_cost (-1: none), ttl_ms (0: never expires).
local function reserve(k, A)
  local now, window = tonumber(A[1]), tonumber(A[2])
  local rid, expires_at = A[3], A[4]
  local nw, nb = tonumber(A[5]), tonumber(A[6])
  local tok_text, cost_text = A[7], A[8]
  local tok, cost = tonumber(tok_text), tonumber(cost_text)
  local cutoff = now - window
  local p = 8
  for i = 1, nw do
    local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    local rpm, tpm = tonumber(A[p + 1]), tonumber(A[p + 2])
    p = p + 2
    local n, s = prune_window(z, h, cutoff)
    local over_rpm = rpm >= 0 and n + 1 > rpm
    local over_tpm = tpm >= 0 and s + tok > tpm
    if over_rpm or over_tpm then
      local wait = 0
      if over_rpm then
        local e = redis.call('ZRANGE', z, n - rpm, n - rpm, 'WITHSCORES')
        wait = math.max(wait, tonumber(e[2]) + window - now)
      end
      if over_tpm then
        if tok > tpm then
          wait = -1
        else
          local excess = s + tok - tpm
          local e = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
          for j = 1, #e, 2 do
            excess = excess - (tonumber(redis.call('HGET', h, e[j])) or 0)
            if excess <= 0 then
              wait = math.max(wait, tonumber(e[j + 1]) + window - now)
              break
            end
          end
        end
      end
      local retry = ''
      if wait >= 0 then retry = num(math.max(wait, 0)) end
      if over_rpm then return {'rpm', i, retry, n, 0} end
      return {'tpm', i, retry, int(s), 0}
    end
  end
  local kb = k + 2 * nw
  local levels = {'ok'}
  for i = 1, nb do
    local b, x = KEYS[kb + 2 * i - 1], KEYS[kb + 2 * i]
    local max_tokens, max_cost = tonumber(A[p + 1]), tonumber(A[p + 2])
    p = p + 3
    local ut, uc, rt, rc = prune_budget(b, x, now)
    if max_tokens >= 0 and ut + rt + tok > max_tokens then return {'tokens', i, '', int(ut), int(rt)} end
    if max_cost >= 0 and uc + rc + cost > max_cost then return {'cost', i, '', int(uc), int(rc)} end
    levels[#levels + 1] = int(ut + rt + tok)
    levels[#levels + 1] = int(uc + rc + cost)
  end
  -- Every check passed: hold everything.
  local keep_ms = math.floor((window + 5) * 1000)
  for i = 1, nw do
    local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    redis.call('ZADD', z, A[1], rid)
    redis.call('HSET', h, rid, tok_text)
    redis.call('HINCRBY', h, '_sum', tok_text)
    redis.call('PEXPIRE', z, keep_ms)
    redis.call('PEXPIRE', h, keep_ms)
  end
  -- The holds outlive the reservation ttl by a second at most; the counter lives for its period.
  local hold_ms = math.ceil((tonumber(expires_at) - now) * 1000) + 1000
  p = 8 + 2 * nw
  for i = 1, nb do
    local b, x = KEYS[kb + 2 * i - 1], KEYS[kb + 2 * i]
    local ttl = tonumber(A[p + 3])
    p = p + 3
    redis.call('ZADD', x, expires_at, rid .. ':' .. tok_text .. ':' .. cost_text)
    redis.call('HINCRBY', b, 'rt', tok_text)
    redis.call('HINCRBY', b, 'rc', cost_text)
    if ttl > 0 then
      redis.call('PEXPIRE', b, math.max(ttl, hold_ms))
      redis.call('PEXPIRE', x, math.max(ttl, hold_ms))
    elseif redis.call('PTTL', x) < hold_ms then
      redis.call('PEXPIRE', x, hold_ms)
    end
  end
  return levels
end

-- settle or release. KEYS: per window h; then per budget b, x.
-- fields: rid, tokens, cost, nw, nb, mode ('settle' or 'release'), reserved tokens, reserved cost;
--       per budget ttl_ms (0: never expires).
local function settle(k, A)
  local rid, mode = A[1], A[6]
  local tok = A[2]
  if mode ~= 'settle' then tok = '0' end
  local nw, nb = tonumber(A[4]), tonumber(A[5])
  local hold = rid .. ':' .. A[7] .. ':' .. A[8]
  for i = 1, nw do
    local h = KEYS[k + i]
    local old = redis.call('HGET', h, rid)
    if old then  -- still in its window
      redis.call('HSET', h, rid, tok)
      redis.call('HINCRBY', h, '_sum', int(tonumber(tok) - tonumber(old)))
    end
  end
  for i = 1, nb do
    local b, x = KEYS[k + nw + 2 * i - 1], KEYS[k + nw + 2 * i]
    if redis.call('ZREM', x, hold) == 1 then  -- still held (not lapsed)
      redis.call('HINCRBY', b, 'rt', int(-tonumber(A[7])))
      redis.call('HINCRBY', b, 'rc', int(-tonumber(A[8])))
    end
    if mode == 'settle' then
      redis.call('HINCRBY', b, 'ut', A[2])
      redis.call('HINCRBY', b, 'uc', A[3])
      local ttl = tonumber(A[8 + i])
      if ttl > 0 and redis.call('PTTL', b) < ttl then redis.call('PEXPIRE', b, ttl) end
    end
  end
  return 1
end

-- cancel: take a reservation's request out of its windows, as if never admitted. KEYS: per window z, h.
-- fields: rid, nw.
local function cancel(k, A)
  local rid, nw = A[1], tonumber(A[2])
  for i = 1, nw do
    local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    if redis.call('ZREM', z, rid) == 1 then  -- still in its window
      local old = tonumber(redis.call('HGET', h, rid) or '0')
      redis.call('HDEL', h, rid)
      redis.call('HINCRBY', h, '_sum', int(-old))
    end
  end
  return 1
end

-- snapshot (reads only). KEYS: per window z, h; then per budget b, x.  fields: now, window, nw, nb.
local function snapshot(k, A)
  local now, window = tonumber(A[1]), tonumber(A[2])
  local nw, nb = tonumber(A[3]), tonumber(A[4])
  local out = {}
  for i = 1, nw do
    local z, h = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    local e = redis.call('ZRANGEBYSCORE', z, '(' .. num(now - window), '+inf', 'WITHSCORES')
    local row = {}
    for j = 1, #e, 2 do
      row[#row + 1] = e[j + 1]
      row[#row + 1] = redis.call('HGET', h, e[j]) or '0'
    end
    out[#out + 1] = row
  end
  for i = 1, nb do
    local b, x = KEYS[k + 2 * nw + 2 * i - 1], KEYS[k + 2 * nw + 2 * i]
    local f = redis.call('HMGET', b, 'ut', 'uc')
    local rt, rc = hold_sums(redis.call('ZRANGEBYSCORE', x, '(' .. num(now), '+inf'))
    out[#out + 1] = {f[1] or '0', f[2] or '0', int(rt), int(rc)}
  end
  return out
end

-- The batch. ARGV: one string per operation, its fields separated by spaces: its name, its number of
-- keys, then its arguments (one string rather than many arguments: each argument costs the client more
-- to send than Lua takes to split a string). KEYS: the keys of every operation, in order.
local ops = {reserve = reserve, settle = settle, snapshot = snapshot, cancel = cancel}
local results = {}
local k = 0
for n = 1, #ARGV do
  local fields = {}
  for field in string.gmatch(ARGV[n], '%S+') do fields[#fields + 1] = field end
  local name, nkeys = table.remove(fields, 1), tonumber(table.remove(fields, 1))
  results[n] = ops[name](k, fields)
  k = k + nkeys
end
return results
"""
