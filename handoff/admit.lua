-- Admits one job in one atomic step: rate limit, its triggering event (new, or replayed), first state, enqueue.
-- Prepended at load time: `local function dramatiq_dispatch(KEYS, ARGV) <Dramatiq's own dispatch.lua> end`,
-- so the message is enqueued by Dramatiq's code, exactly as RedisBroker.enqueue would.
--
-- KEYS: 1 dramatiq namespace, 2 job key ("" = no job), 3 rate-limit key ("" = none),
--       4 event key ("" = no event), 5 events index (new events only), 6 replayed job key ("" = not a replay)
-- ARGV: 1 rate limit, 2 rate window (s), 3 job fields (JSON [f, v, ...]), 4 job TTL (s),
--       5 event fields (JSON [f, v, ...]), 6 event TTL (s), 7 index member, 8 index score, 9 index size,
--       10 replayed job id, 11.. Dramatiq dispatch arguments ("enqueue", timestamp, queue, ...)
-- Returns {"limited", seconds until the window ends} | {"duplicate", original job id}
--       | {"refused", why} | {"accepted", ""}

local namespace, job_key, limit_key, event_key, events_index, replayed_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- Job ids are new for every admission, so an existing job means this very call already ran: redis-py sent it
-- again after losing the reply (a Redis restart). Answer as the first time, without counting or enqueueing twice.
if job_key ~= "" and redis.call("exists", job_key) == 1 then
  return {"accepted", ""}
end

if limit_key ~= "" then
  local count = redis.call("incr", limit_key)
  if count == 1 then
    redis.call("expire", limit_key, ARGV[2])
  end
  if count > tonumber(ARGV[1]) then
    return {"limited", tostring(redis.call("ttl", limit_key))}
  end
end

if replayed_key ~= "" then
  -- A replay runs only while the event still points at the failed job: a second press finds the new one.
  if redis.call("exists", event_key) == 0 then
    return {"refused", "There is no such event."}
  end
  if redis.call("hget", event_key, "job_id") ~= ARGV[10] or redis.call("hget", replayed_key, "state") ~= "failed" then
    return {"refused", "Only an event whose job failed can be replayed."}
  end
  redis.call("hset", event_key, unpack(cjson.decode(ARGV[5])))
  redis.call("hincrby", event_key, "replays", 1)
elseif event_key ~= "" then
  local seen = redis.call("hget", event_key, "job_id")
  if seen then
    return {"duplicate", seen}
  end
  redis.call("hset", event_key, unpack(cjson.decode(ARGV[5])))
  redis.call("expire", event_key, ARGV[6])
  redis.call("zadd", events_index, ARGV[8], ARGV[7])
  redis.call("zremrangebyrank", events_index, 0, -tonumber(ARGV[9]) - 1)
end

if job_key ~= "" then
  redis.call("hset", job_key, unpack(cjson.decode(ARGV[3])))
  redis.call("expire", job_key, ARGV[4])
  local dispatch_args = {}
  for i = 11, #ARGV do
    dispatch_args[#dispatch_args + 1] = ARGV[i]
  end
  dramatiq_dispatch({namespace}, dispatch_args)
end

return {"accepted", ""}
