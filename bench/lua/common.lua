-- Shared by every scenario: per-request choice of user token and path, a
-- JSON summary at the end (latency in microseconds), and a count of non-2xx.
local json_escape = function(s) return (s:gsub('\\', '\\\\'):gsub('"', '\\"')) end

tokens = {}
jobs = {}
local file = os.getenv("BENCH_PAIRS")
if file then
  for line in io.lines(file) do
    local token, job = line:match("^(%S+)%s+(%S+)$")
    if token then
      table.insert(tokens, token)
      table.insert(jobs, job)
    end
  end
end
hot = tonumber(os.getenv("BENCH_HOT") or "64")
if hot > #tokens then hot = #tokens end
counter = 0
bad = 0
-- Unique per wrk invocation, so the warm-up's names never collide with the measured run's.
run_id = os.getenv("BENCH_RUN") or tostring(os.time())
thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("thread_id", thread_id)
end

function response(status, headers, body)
  if status < 200 or status >= 300 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("non-2xx " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end

function pick(n)
  counter = counter + 1
  return ((counter * 7919 + thread_id * 104729) % n) + 1
end

function get(path, token)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function create(token)
  counter = counter + 1
  local body = string.format(
    '{"name": "bench-%s-%d-%d", "schedule": {"kind": "interval", "every": 15, "unit": "minutes"},'
    .. ' "action": {"type": "task", "task": "echo", "kwargs": {}}}',
    run_id .. "-" .. thread_id, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/api/v1/jobs/", {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    errors, summary.errors.status))
end
