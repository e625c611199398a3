"""How runs lie in Redis: the keys, and the one script that writes them.

Per thread (the hash tag ``{<thread id>}`` puts all of a thread's keys in one slot of a
Redis Cluster, so one script and one ``XREAD`` cover them):

- ``<prefix>:{<thread>}:run:<run id>``: the run's stream; each entry ``e`` (SSE event name),
  ``d`` (its JSON data), ``n`` (its number in the run: 1, 2, ... so a reader sees a hole
  left by trimming); last, an entry ``x=end``;
- ``<prefix>:{<thread>}:info:<run id>``: the run's record (a hash: status, timestamps,
  error, counts, a copy of its first item);
- ``<prefix>:{<thread>}:runs``: the thread's index, a stream of ``open=<run id>`` and
  ``end=<run id>`` entries (what a thread's follower blocks on to see new runs);
- ``<prefix>:{<thread>}:clock``: the last entry id given in the thread.

Entry ids come from the thread's clock (the server's time in ms, then a sequence), so ids
are unique and increasing across all of a thread's streams: one id places an item in the
whole thread, and a thread's stream resumes by it. Outside any thread: ``<prefix>:runs``
(every run, newest last, for ``GET /runs``) and ``<prefix>:owner:<run id>`` (a run's thread,
kept a day longer than the run, so a run asked for by id alone is found, or known gone).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from otelstream.server.store import BadEventId

TOMBSTONE_MS = 86_400_000
"""How long a run's owner key outlives the run: asking for it then is a 410, not a 404."""


BLOCK = 10.0
"""Longest ``XREAD BLOCK`` of a reader, in seconds (then it looks again)."""
_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")


def parse_id(event_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; the Platform's ``-1`` is ``(0, 0)``."""
    text = event_id.strip()
    if text == "-1":
        return (0, 0)
    match = _ID.fullmatch(text)
    if match is None:
        raise BadEventId(f"malformed event id {event_id!r} (expected <ms>-<seq>)")
    return (int(match[1]), int(match[2] or 0))


def tag(thread_id: str) -> str:
    """The thread's hash tag; a digest for ids Redis would not use whole as a tag."""
    if thread_id and "}" not in thread_id:
        return "{" + thread_id + "}"
    return "{#" + hashlib.sha1(thread_id.encode()).hexdigest() + "}"


@dataclass(frozen=True)
class RunKeys:
    """The four keys the script writes for one run (``KEYS[1..4]``)."""

    stream: str
    info: str
    index: str
    clock: str


class Keys:
    """Key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.listing = f"{prefix}:runs"

    def run(self, thread_id: str, run_id: str) -> RunKeys:
        thread = f"{self.prefix}:{tag(thread_id)}"
        return RunKeys(
            f"{thread}:run:{run_id}", f"{thread}:info:{run_id}", f"{thread}:runs", f"{thread}:clock"
        )

    def index(self, thread_id: str) -> str:
        return f"{self.prefix}:{tag(thread_id)}:runs"

    def owner(self, run_id: str) -> str:
        return f"{self.prefix}:owner:{run_id}"


PUBLISH = r"""
-- One batch of one run, atomically: open it (once), append its entries (each once: entries
-- numbered up to the hash's `seq` were written by an earlier try), trim, close it (once),
-- set the expiries. KEYS: stream, info, index, clock. ARGV[1]: the header (JSON); then the
-- event name and data of each entry, numbered from header.seq on.
local h = cjson.decode(ARGV[1])
local stream, info, index, clock = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms, sq = 0, 0
local function split(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local last = redis.call('GET', clock)
if last then ms, sq = split(last) end
local function add(key, fields)
  if now > ms then ms, sq = now, 0 else sq = sq + 1 end
  local id = string.format('%.0f-%.0f', ms, sq)
  local ok = redis.pcall('XADD', key, id, unpack(fields))
  if type(ok) == 'table' and ok.err then -- the stream is ahead of the clock: go past it
    local meta = redis.call('XINFO', 'STREAM', key)
    for i = 1, #meta, 2 do
      if meta[i] == 'last-generated-id' then ms, sq = split(meta[i + 1]) end
    end
    sq = sq + 1
    id = string.format('%.0f-%.0f', ms, sq)
    redis.call('XADD', key, id, unpack(fields))
  end
  return id
end
local function gap(count, reason)
  return '{"run_id":' .. cjson.encode(h.run_id) .. ',"gap":{"dropped":' .. count ..
    ',"reason":' .. cjson.encode(reason) .. '}}'
end

local seq, n, lost = 0, 0, 0
if redis.call('HSETNX', info, 'run_id', h.run_id) == 1 then
  redis.call('HSET', info, 'thread_id', h.thread_id, 'graph', h.graph,
    'created_at', h.created_at, 'metadata', h.metadata, 'status', 'running',
    'n', 0, 'seq', 0, 'lost', 0, 'trimmed', 0)
  add(index, {'open', h.run_id})
  if h.seq > 1 and h.head_e then
    -- written before and lost by the store (a restart without persistence, an expiry):
    -- the run's first item again, then how many entries are missing
    n = 1
    local id = add(stream, {'e', h.head_e, 'd', h.head_d, 'n', n})
    redis.call('HSET', info, 'head_id', id, 'head_e', h.head_e, 'head_d', h.head_d)
    if h.seq > 2 then
      n = 2
      lost = h.seq - 2
      add(stream, {'e', 'metadata', 'd', gap(lost, 'lost by the stream store'), 'n', n})
    end
    seq = h.seq - 1
  end
else
  seq = tonumber(redis.call('HGET', info, 'seq'))
  n = tonumber(redis.call('HGET', info, 'n'))
end

local first = h.seq
for i = 2, #ARGV, 2 do
  local s = first + (i - 2) / 2
  if s > seq then
    n = n + 1
    local id = add(stream, {'e', ARGV[i], 'd', ARGV[i + 1], 'n', n})
    if n == 1 then
      redis.call('HSET', info, 'head_id', id, 'head_e', ARGV[i], 'head_d', ARGV[i + 1])
    end
    local dropped = h.gaps[tostring(s)]
    if dropped then lost = lost + dropped end
    seq = s
  end
end

local trimmed = 0
if h.maxlen > 0 then
  trimmed = trimmed + redis.call('XTRIM', stream, 'MAXLEN', '~', h.maxlen)
end
if h.maxage > 0 then
  local oldest = string.format('%.0f-0', now - h.maxage)
  trimmed = trimmed + redis.call('XTRIM', stream, 'MINID', '~', oldest)
end
if trimmed > 0 and redis.call('HSETNX', info, 'head_trimmed', 1) == 1 then
  trimmed = trimmed - 1 -- the first item was among them: it is still served, from the hash
end
lost = redis.call('HINCRBY', info, 'lost', lost)
trimmed = redis.call('HINCRBY', info, 'trimmed', trimmed)

local ended = redis.call('HGET', info, 'status') ~= 'running'
if h.close and not ended then
  local dropped = lost + trimmed
  if dropped > 0 then
    n = n + 1
    local summary = '{"run_id":' .. cjson.encode(h.run_id) .. ',"status":' ..
      cjson.encode(h.close.status) .. ',"dropped":' .. dropped .. '}'
    add(stream, {'e', 'metadata', 'd', summary, 'n', n})
  end
  add(stream, {'x', 'end'})
  redis.call('HSET', info, 'status', h.close.status, 'error', h.close.error or '',
    'ended_at', h.close.at)
  add(index, {'end', h.run_id})
  ended = true
end
redis.call('HSET', info, 'seq', seq, 'n', n, 'updated_at', string.format('%.3f', now / 1000))
redis.call('SET', clock, string.format('%.0f-%.0f', ms, sq))
local keep = h.live_ms
if ended then keep = h.ttl_ms end
redis.call('PEXPIRE', stream, keep)
redis.call('PEXPIRE', info, keep)
redis.call('XTRIM', index, 'MAXLEN', '~', h.runs * 2)
redis.call('PEXPIRE', index, math.max(h.ttl_ms, h.live_ms))
redis.call('PEXPIRE', clock, math.max(h.ttl_ms, h.live_ms))
return n
"""
