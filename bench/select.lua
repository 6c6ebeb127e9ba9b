-- wrk: the Eid rush on seat selection. Each request is a random user (from the minted
-- tokens) trying 1 or 2 random seats of a random bench trip; most seats are gone within the
-- first second, so most answers are 409 seat_unavailable, as in the rush. A 201 is followed
-- (on that thread) by a confirm of the hold with tok_visa, so the run also sells seats and
-- the oversell check afterwards has something to check.
--
-- With BENCH_AFTER=release, a 201 is followed by releasing the hold instead
-- (DELETE /api/bookings/holds/{id}): seats come back, and the run measures successful holds
-- (the hold script and its record) rather than the 409 answers of a sold-out rush.
--
-- Environment: BENCH_TOKENS (file, one token per line), BENCH_TRIPS (comma list),
-- BENCH_SEATS (seats per trip), BENCH_AFTER (confirm, the default, or release).

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local trips = {}
for t in string.gmatch(os.getenv("BENCH_TRIPS"), "[^,]+") do trips[#trips + 1] = tonumber(t) end
local seats = tonumber(os.getenv("BENCH_SEATS"))
local release = os.getenv("BENCH_AFTER") == "release"

pending = {}
counts = {} -- global: done() reads it through thread:get
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local confirm = table.remove(pending)
  if confirm and release then
    return wrk.format("DELETE", "/api/bookings/holds/" .. confirm.hold,
      {["Authorization"] = "Bearer " .. confirm.token})
  end
  if confirm then
    return wrk.format("POST", "/api/bookings/seats/confirm",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. confirm.token},
      '{"hold_id":"' .. confirm.hold .. '","passengers":' .. confirm.passengers .. ',"payment_token":"tok_visa"}')
  end
  local user = math.random(#tokens)
  local token = tokens[user]
  local trip = trips[math.random(#trips)]
  local first = math.random(seats)
  local ids = tostring(first)
  local n = 1
  if math.random() < 0.5 and first < seats then ids = ids .. "," .. (first + 1); n = 2 end
  -- The request id comes back in the response: it says whose hold a 201 is.
  return wrk.format("POST", "/api/bookings/seats/select",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token,
     ["X-Request-Id"] = "bench-u" .. user .. "-" .. math.random(1000000000)},
    '{"trip_id":' .. trip .. ',"seat_ids":[' .. ids .. ']}')
end

function response(status, headers, body)
  local code = string.match(body, '"code":"([%w_]+)"') or tostring(status)
  counts[code] = (counts[code] or 0) + 1
  if status == 201 then
    local hold = string.match(body, '"hold_id":"([%x%-]+)"')
    local rid = headers["x-request-id"] or headers["X-Request-Id"] or ""
    local user = tonumber(string.match(rid, "^bench%-u(%d+)%-"))
    if hold and user then
      local names = {}
      local n = select(2, string.gsub(string.match(body, '"seat_ids":%[([^%]]*)%]') or "", "%d+", ""))
      for i = 1, n do names[#names + 1] = '{"name":"Bench Passenger"}' end
      pending[#pending + 1] = {hold = hold, token = tokens[user], passengers = "[" .. table.concat(names, ",") .. "]"}
    end
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  io.write("answer mix:")
  for k, v in pairs(total) do io.write(string.format(" %s=%d", k, v)) end
  io.write("\n")
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s=%.2fms ", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("\nrequests/s=%.0f\n", summary.requests / (summary.duration / 1000000)))
end
