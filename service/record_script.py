"""The Lua script that writes events into the users' Redis histories (``HistoryStore.record``).

Its rules are the write half of the public Redis contract (``contracts/redis_keys.py``), so they
stand in a file of their own, beside the code that runs the script.
"""

from __future__ import annotations

import hashlib

# Events in order, each atomically. An event goes where its time puts it: in front of the
# first item whose recorded time is unknown or not newer, so a late event never displaces newer
# ones; an item already there at the same or a newer time is left as it is (replays change
# nothing). Then: trim (forgetting the times of trimmed items), refresh both TTLs, and record the
# item's category when the event names one.
# KEYS: per event its history list and its times hash, then the item-category hash (left out
# by the cluster key format, whose categories are written apart: no script may span slots).
# ARGV: per event item id, category id ('' for none) and unix seconds; then length and TTL.
# Returns the (1-based) positions of events skipped because a key holds another type, and how
# many categories were not written because the hash key holds another type.
RECORD_SCRIPT = """
local n = math.floor(#KEYS / 2)
local hash = (#KEYS % 2 == 1) and KEYS[#KEYS] or nil
local length = tonumber(ARGV[3 * n + 1])
local ttl = ARGV[3 * n + 2]
local hash_ok = false
if hash then
  local hash_kind = redis.call('TYPE', hash)['ok']
  hash_ok = hash_kind == 'hash' or hash_kind == 'none'
end
local skipped = {}
local categories_skipped = 0
local function usable(key, kind)
  local found = redis.call('TYPE', key)['ok']
  return found == kind or found == 'none'
end
for i = 1, n do
  local list, times = KEYS[2 * i - 1], KEYS[2 * i]
  local item, category, at = ARGV[3 * i - 2], ARGV[3 * i - 1], tonumber(ARGV[3 * i])
  if usable(list, 'list') and usable(times, 'hash') then
    local known = tonumber(redis.call('HGET', times, item))
    if known == nil or known < at then
      redis.call('LREM', list, 0, item)
      local head = redis.call('LINDEX', list, 0)
      local head_at = head and tonumber(redis.call('HGET', times, head))
      if not head_at or head_at <= at then
        redis.call('LPUSH', list, item)
      else
        local items = redis.call('LRANGE', list, 0, -1)
        local ats = redis.call('HMGET', times, unpack(items))
        local pivot = nil
        for j = 1, #items do
          local t = tonumber(ats[j])
          if t == nil or t <= at then
            pivot = items[j]
            break
          end
        end
        if pivot then
          redis.call('LINSERT', list, 'BEFORE', pivot, item)
        else
          redis.call('RPUSH', list, item)
        end
      end
      redis.call('HSET', times, item, ARGV[3 * i])
      local trimmed = redis.call('LRANGE', list, length, -1)
      if #trimmed > 0 then
        redis.call('LTRIM', list, 0, length - 1)
        redis.call('HDEL', times, unpack(trimmed))
      end
    end
    redis.call('EXPIRE', list, ttl)
    redis.call('EXPIRE', times, ttl)
  else
    skipped[#skipped + 1] = i
  end
  local category = ARGV[3 * i - 1]
  if category ~= '' then
    if hash_ok then
      redis.call('HSET', hash, item, category)
    else
      categories_skipped = categories_skipped + 1
    end
  end
end
return {skipped, categories_skipped}
"""
RECORD_SHA = hashlib.sha1(RECORD_SCRIPT.encode()).hexdigest()
