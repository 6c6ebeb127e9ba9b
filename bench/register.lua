-- wrk: POST /api/auth/register with a fresh e-mail and phone on every request.
local counter = 0
thread_id = 0 -- global: setup() overrides it per thread
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local n = thread_id * 10000000 + counter
  local body = string.format(
    '{"name":"Bench User","email":"bench%d.%d@example.com","phone":"+8801%09d","password":"bench-password-1"}',
    os.time(), n, n)
  return wrk.format("POST", "/api/auth/register", {["Content-Type"] = "application/json"}, body)
end

local reported = false
function response(status, headers, body)
  if status ~= 201 and not reported then
    reported = true
    io.stderr:write("first unexpected response: " .. status .. " " .. body .. "\n")
  end
end
