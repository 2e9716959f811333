-- One page of jobs, newest first, merged from several job indexes (one sorted set per state and actor:
-- job id -> time of creation, ms), read in one round trip and never by scanning: each index is read in short
-- chunks from the cursor on, so a page costs O(log N) per index whatever its size. A text filter looks at no more
-- than `budget` jobs per call and says where it stopped, so the next call carries on from there.
--
-- KEYS: the indexes to merge
-- ARGV: 1 page size, 2 cursor score ("" = start at the newest / oldest end), 3 cursor member,
--       4 direction ("older": the page after the cursor, newest first; "newer": the page before it),
--       5 text to find in a job's id or summary, lowercased ("" = none), 6 most jobs a text filter examines,
--       7 job hash key prefix, 8 "count" to count the matches (up to the budget) instead of returning them
-- Returns {more, stopped, stop score, stop member, total, newer than the page, rows...}: `more` = 1 if another
-- page follows in this direction; `stopped` = 1 if the text filter ran out of budget at (stop score, member);
-- total = jobs in the indexes; newer = jobs before the page, newest first; each row = {id, score, {field, value,
-- ...}}, in the direction's order. Counting: {0, stopped, stop score, stop member, total, matches}.

local size, cursor_score, cursor_member = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local older, needle, budget, prefix = ARGV[4] == "older", ARGV[5], tonumber(ARGV[6]), ARGV[7]
local counting = ARGV[8] == "count"
local CHUNK = size + 1

-- Is (score a, member a) before (b) in the walk's order?
local function before(sa, ma, sb, mb)
  if sa ~= sb then
    if older then return sa > sb else return sa < sb end
  end
  if older then return ma > mb else return ma < mb end
end

local streams = {}
for i, key in ipairs(KEYS) do
  local bound = cursor_score ~= "" and tonumber(cursor_score) or nil
  streams[i] = {key = key, buffer = {}, pos = 1, bound = bound, offset = 0, done = false}
end

-- Next chunk of a stream, from its bound: items at the bound's own score come first and are counted in offset.
local function refill(s)
  local items
  if older then
    local max = s.bound and tostring(s.bound) or "+inf"
    items = redis.call("zrevrangebyscore", s.key, max, "-inf", "WITHSCORES", "LIMIT", s.offset, CHUNK)
  else
    local min = s.bound and tostring(s.bound) or "-inf"
    items = redis.call("zrangebyscore", s.key, min, "+inf", "WITHSCORES", "LIMIT", s.offset, CHUNK)
  end
  s.buffer, s.pos = {}, 1
  for i = 1, #items, 2 do
    s.buffer[#s.buffer + 1] = {items[i], tonumber(items[i + 1])}
  end
  if #s.buffer == 0 then s.done = true end
end

-- The stream's next item past the cursor, without taking it.
local has_cursor = cursor_score ~= ""
local cursor_at = has_cursor and tonumber(cursor_score) or nil
local function head(s)
  while not s.done do
    if s.pos > #s.buffer then
      refill(s)
    else
      local item = s.buffer[s.pos]
      if has_cursor and item[2] == cursor_at and not before(cursor_at, cursor_member, item[2], item[1]) then
        s.pos, s.offset = s.pos + 1, s.offset + 1  -- at the cursor's own millisecond, not past it yet
      else
        return item
      end
    end
  end
  return nil
end

local function take(s, item)
  local score = item[2]
  if s.bound == score then
    s.offset = s.offset + 1
  else
    s.bound, s.offset = score, 1
  end
  s.pos = s.pos + 1
end

local rows, examined, stopped, stop_score, stop_member, matches = {}, 0, 0, "", "", 0
while counting or #rows <= size do
  local best, best_stream = nil, nil
  for _, s in ipairs(streams) do
    local item = head(s)
    if item and (best == nil or before(item[2], item[1], best[2], best[1])) then
      best, best_stream = item, s
    end
  end
  if best == nil then break end
  if needle ~= "" and examined >= budget then
    stopped = 1  -- the next call resumes after the last job examined
    break
  end
  take(best_stream, best)
  local id = best[1]
  if needle == "" then
    rows[#rows + 1] = best
  else
    examined = examined + 1
    stop_score, stop_member = tostring(best[2]), id
    local summary = redis.call("hget", prefix .. id, "summary") or ""
    if string.find(id, needle, 1, true) or string.find(string.lower(summary), needle, 1, true) then
      if counting then matches = matches + 1 else rows[#rows + 1] = best end
    end
  end
end

if counting then
  local total = 0
  for _, key in ipairs(KEYS) do
    total = total + redis.call("zcard", key)
  end
  return {0, stopped, stop_score, stop_member, total, matches}
end

local more = 0
if #rows > size then
  more = 1
  rows[#rows] = nil
end

local total, newer = 0, 0
for _, key in ipairs(KEYS) do
  total = total + redis.call("zcard", key)
end
if #rows > 0 then
  -- how many jobs come before this page, newest first: those of later milliseconds, and those of the first row's
  -- own millisecond that sort before it (a page inside a burst of one millisecond still knows its place, and that
  -- there are newer jobs to go back to)
  local first = older and rows[1] or rows[#rows]
  local score, member = tostring(first[2]), first[1]
  for _, key in ipairs(KEYS) do
    local rank = redis.call("zrevrank", key, member)
    if rank then
      newer = newer + rank  -- the first row's own index: its rank counts exactly the jobs before it
    else
      newer = newer + redis.call("zcount", key, "(" .. score, "+inf")
      for _, tied in ipairs(redis.call("zrangebyscore", key, score, score)) do
        if tied > member then newer = newer + 1 end
      end
    end
  end
end

local result = {more, stopped, stop_score, stop_member, total, newer}
for _, row in ipairs(rows) do
  result[#result + 1] = {row[1], tostring(row[2]), redis.call("hgetall", prefix .. row[1])}
end
return result
