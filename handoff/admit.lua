-- Admits one job in one atomic step: rate limit, its triggering event (new, or replayed) or a form's one-time
-- token, or the dead letter it is requeued from; first state and index entry; enqueue.
-- Prepended at load time: `local function dramatiq_dispatch(KEYS, ARGV) <Dramatiq's own dispatch.lua> end`,
-- so the message is enqueued by Dramatiq's code, exactly as RedisBroker.enqueue would.
--
-- KEYS: 1 dramatiq namespace, 2 job key ("" = no job), 3 rate-limit key ("" = none),
--       4 event key ("" = no event), 5 events index (new events only), 6 replayed job key ("" = not a replay),
--       7 the job's index in state queued, 8 one-time token key ("" = none),
--       9 dead-letter set, 10 dead-letter messages, 11 the job's index in state failed (requeues only),
--       12 the job's audit list, 13 the audit log ("" = the entry goes on the job's list alone)
-- ARGV: 1 rate limit, 2 rate window (s), 3 job fields (JSON [f, v, ...]), 4 job TTL (s),
--       5 event fields (JSON [f, v, ...]), 6 event TTL (s), 7 index member, 8 index score, 9 index size,
--       10 replayed job id, 11 job id, 12 job created at (ms), 13 one-time token TTL (s),
--       14 dead letter requeued from ("" = not a requeue), 15 dead no later than (ms), 16 admission id,
--       17 audit entry (JSON, "" = none), 18 audit log size, 19 job audit size,
--       20.. Dramatiq dispatch arguments ("enqueue", timestamp, queue, ...)
-- Returns {"limited", seconds until the window ends} | {"duplicate", original job id}
--       | {"refused", why} | {"accepted", ""}

local namespace, job_key, limit_key, event_key, events_index, replayed_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local queued_index, once_key, dead_letters, dead_messages, failed_index, job_audit, audit_log =
  KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local job_id, created_ms, dead_letter, admission_id = ARGV[11], ARGV[12], ARGV[14], ARGV[16]

if dead_letter ~= "" then
  -- A requeue: the job exists already, and only its dead letter decides.
  if redis.call("hget", job_key, "admission") == admission_id then
    return {"accepted", ""}  -- this very call, sent again after a lost reply
  end
  local state = redis.call("hget", job_key, "state")
  if state ~= "failed" then
    return {"refused", "not failed: This job is " .. (state or "gone") .. " now, so there is nothing to retry."}
  end
  if redis.call("hget", job_key, "dead_letter") ~= dead_letter then
    return {"refused", "Its message is no longer in the dead-letter queue."}
  end
  if tonumber(redis.call("hget", job_key, "failed_at") or "0") > tonumber(ARGV[15]) then
    return {"refused", "It failed again after this page was shown; look at it again before retrying."}
  end
  if redis.call("zrem", dead_letters, dead_letter) == 0 then
    return {"refused", "Its message is no longer in the dead-letter queue."}
  end
  redis.call("hdel", dead_messages, dead_letter)
  redis.call("hincrby", job_key, "requeues", 1)
  redis.call("zrem", failed_index, job_id)
elseif job_key ~= "" and redis.call("exists", job_key) == 1 then
  -- Job ids are new for every admission, so an existing job means this very call already ran: redis-py sent it
  -- again after losing the reply (a Redis restart). Answer as the first time, without counting or enqueueing twice.
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

if once_key ~= "" then
  local started = redis.call("get", once_key)
  if started then
    return {"duplicate", started}
  end
  redis.call("set", once_key, job_id, "EX", ARGV[13])
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
  redis.call("zadd", queued_index, created_ms, job_id)
  local dispatch_args = {}
  for i = 20, #ARGV do
    dispatch_args[#dispatch_args + 1] = ARGV[i]
  end
  dramatiq_dispatch({namespace}, dispatch_args)
end

if ARGV[17] ~= "" then
  if job_audit ~= "" then
    redis.call("lpush", job_audit, ARGV[17])
    redis.call("ltrim", job_audit, 0, tonumber(ARGV[19]) - 1)
    redis.call("expire", job_audit, ARGV[4])
  end
  if audit_log ~= "" then
    redis.call("lpush", audit_log, ARGV[17])
    redis.call("ltrim", audit_log, 0, tonumber(ARGV[18]) - 1)
  end
end

return {"accepted", ""}
