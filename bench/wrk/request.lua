-- One fixed request, given after `--`: METHOD PATH BODY ["Header: value" ...]. Prints a summary line.
local prepared

function init(args)
  local headers = {}
  for i = 4, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  local body = args[3]
  if body == "" then body = nil end
  prepared = wrk.format(args[1], args[2], headers, body)
end

function request()
  return prepared
end

function done(summary, latency)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors, summary.errors.status))
end
