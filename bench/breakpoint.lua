-- wrk: one step of the seat-selection breakpoint (bench/breakpoint.sh). The rush of
-- select.lua: each request is a random passenger (BENCH_TOKENS, one access token per line)
-- selecting 1 or 2 random seats of a random trip of this step (BENCH_TRIPS, "trip:seats"
-- pairs, comma separated; seat ids 1..seats). Only selects go through wrk, so its latencies
-- are the selects' own; the holds won are written to BENCH_HOLDS (one "user hold_id seats"
-- line each, user = the token's line number) and confirmed after the step by
-- bench/breakpoint_confirm.py (a hold lasts 5 minutes).
--
-- done() writes one line of key=value pairs to BENCH_RESULT: throughput, latency percentiles,
-- the answer mix (held, taken, limit, departed, rate_limited, other 4xx, 5xx), wrk's socket
-- errors, and double_holds: seats that got a 201 more than once in this step, which must be
-- 0 (the step's trips were untouched before it, and no hold lapses within a step).

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local trips, seats = {}, {}
for id, n in string.gmatch(os.getenv("BENCH_TRIPS"), "(%d+):(%d+)") do
  trips[#trips + 1] = tonumber(id)
  seats[#trips] = tonumber(n)
end

-- Globals: done() reads them from each thread with thread:get.
counts = {}
held = {}
holds = {}
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) + 7919 * (thread_id or 0))
end

function request()
  local user = math.random(#tokens)
  local t = math.random(#trips)
  local n = seats[t]
  local first = math.random(n)
  local ids = tostring(first)
  if math.random() < 0.5 and first < n then ids = ids .. "," .. (first + 1) end
  -- The request id comes back in the response: it says whose hold a 201 is.
  return wrk.format("POST", "/api/bookings/seats/select",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[user],
     ["X-Request-Id"] = "bp-" .. user .. "-" .. math.random(1000000000)},
    '{"trip_id":' .. trips[t] .. ',"seat_ids":[' .. ids .. ']}')
end

local function count(key)
  counts[key] = (counts[key] or 0) + 1
end

function response(status, headers, body)
  if status == 201 then
    count("held")
    local hold = string.match(body, '"hold_id":"([%x%-]+)"')
    local trip = string.match(body, '"trip_id":(%d+)')
    local list = string.match(body, '"seat_ids":%[([^%]]*)%]') or ""
    local n = 0
    for seat in string.gmatch(list, "%d+") do
      local key = trip .. ":" .. seat
      held[key] = (held[key] or 0) + 1
      n = n + 1
    end
    local rid = headers["x-request-id"] or headers["X-Request-Id"] or ""
    local user = string.match(rid, "^bp%-(%d+)%-")
    if hold and user then holds[#holds + 1] = user .. " " .. hold .. " " .. n end
    return
  end
  local code = string.match(body, '"code":"([%w_]+)"')
  if status == 409 and code == "seat_unavailable" then count("taken")
  elseif status == 409 and code == "seat_limit_reached" then count("limit")
  elseif status == 409 and code == "trip_departed" then count("departed")
  elseif status == 429 then count("rate_limited")
  elseif status >= 500 then count("http_5xx")
  else count("other_4xx") end
end

function done(summary, latency, requests)
  local total, seen = {}, {}
  local hold_file = os.getenv("BENCH_HOLDS")
  local hf = hold_file and assert(io.open(hold_file, "w"))
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts") or {}) do total[k] = (total[k] or 0) + v end
    for k, v in pairs(t:get("held") or {}) do seen[k] = (seen[k] or 0) + v end
    if hf then
      for _, line in ipairs(t:get("holds") or {}) do hf:write(line, "\n") end
    end
  end
  if hf then hf:close() end
  local double = 0
  for _, v in pairs(seen) do if v > 1 then double = double + 1 end end
  local seconds = summary.duration / 1000000
  local e = summary.errors
  local out = {
    string.format("seconds=%.3f", seconds),
    string.format("requests=%d", summary.requests),
    string.format("requests_per_s=%.1f", summary.requests / seconds),
    string.format("p50_ms=%.3f", latency:percentile(50) / 1000),
    string.format("p90_ms=%.3f", latency:percentile(90) / 1000),
    string.format("p99_ms=%.3f", latency:percentile(99) / 1000),
    string.format("p999_ms=%.3f", latency:percentile(99.9) / 1000),
    string.format("max_ms=%.3f", latency.max / 1000),
    string.format("socket_connect=%d", e.connect),
    string.format("socket_read=%d", e.read),
    string.format("socket_write=%d", e.write),
    string.format("socket_timeout=%d", e.timeout),
    string.format("double_holds=%d", double),
  }
  for _, k in ipairs({"held", "taken", "limit", "departed", "rate_limited", "other_4xx", "http_5xx"}) do
    out[#out + 1] = string.format("%s=%d", k, total[k] or 0)
  end
  local line = table.concat(out, " ")
  local path = os.getenv("BENCH_RESULT")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(line, "\n")
    f:close()
  end
  io.write(line, "\n")
end
