-- Drops a failed job's dead letter for good, in one atomic step with its audit record: the job stays `failed`
-- (its owner's page still tells what happened), is marked deleted and leaves the console's lists.
--
-- KEYS: 1 job key, 2 dead-letter set, 3 dead-letter messages, 4 the job's index in state failed,
--       5 the job's audit list, 6 the audit log
-- ARGV: 1 dead letter, 2 who, 3 when (ms), 4 audit entry (JSON), 5 audit log size, 6 job audit size, 7 job id,
--       8 job TTL (s)
-- Returns {"accepted", ""} | {"refused", why}

local job_key, dead_letters, dead_messages, failed_index, job_audit, audit_log =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local state = redis.call("hget", job_key, "state")
if state ~= "failed" then
  return {"refused", "not failed: This job is " .. (state or "gone") .. " now, so it has no dead letter."}
end
if redis.call("hget", job_key, "dead_letter") ~= ARGV[1] then
  return {"refused", "Its dead letter is gone already."}
end
redis.call("zrem", dead_letters, ARGV[1])
redis.call("hdel", dead_messages, ARGV[1])
redis.call("hset", job_key, "dead_letter", "", "deleted_by", ARGV[2], "deleted_at", ARGV[3], "updated_at", ARGV[3])
redis.call("zrem", failed_index, ARGV[7])
redis.call("lpush", job_audit, ARGV[4])
redis.call("ltrim", job_audit, 0, tonumber(ARGV[6]) - 1)
redis.call("expire", job_audit, ARGV[8])
redis.call("lpush", audit_log, ARGV[4])
redis.call("ltrim", audit_log, 0, tonumber(ARGV[5]) - 1)
return {"accepted", ""}
