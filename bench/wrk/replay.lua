-- Replays prepared requests, one per line of the file given after `--` ("<Stripe-Signature>\t<body>"),
-- each exactly once, to the path given second; then the thread stops. Counts answers by status.
local prepared = {}
local next_index = 0
local answered = 0
local statuses = {}

function init(args)
  local path = args[2] or "/webhooks/stripe"
  for line in io.lines(args[1]) do
    local signature, body = line:match("^([^\t]*)\t(.*)$")
    prepared[#prepared + 1] = wrk.format("POST", path,
      { ["Content-Type"] = "application/json", ["Stripe-Signature"] = signature }, body)
  end
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if answered >= #prepared then
    wrk.thread:stop()
  end
end

function done(summary, latency)
  io.write(string.format("requests=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
