"""The Lua script that reads a user's history (``HistoryStore.read``): one command, one reply.

The same reads as a pipeline of an LRANGE per list and a GET of the hidden-items counter, in
one EVALSHA: redis-py's client spends most of a pipelined read's CPU per command (packing it,
a reply read with its own timer), so one command instead of five costs a worker about half as
much CPU per read (docs/benchmarks.md, "CPU per request"); Redis spends a few µs more on it.
Reads stay tolerant: a key of another type answers its own error in its place (``redis.pcall``)
instead of failing the whole read, exactly as a pipeline's reply would.
"""

from __future__ import annotations

import hashlib

# KEYS: the lists to read, then (one node; not with the cluster key format, where it lives on
# another node) the hidden-items counter. ARGV: how many items of each list, newest first.
# Returns one reply per key: a list's items (or its error), then the counter (or nil).
READ_SCRIPT = """
local out = {}
for i = 1, #ARGV do
  out[i] = redis.pcall('LRANGE', KEYS[i], 0, tonumber(ARGV[i]) - 1)
end
if #KEYS > #ARGV then
  out[#KEYS] = redis.pcall('GET', KEYS[#KEYS])
end
return out
"""
READ_SHA = hashlib.sha1(READ_SCRIPT.encode()).hexdigest()
