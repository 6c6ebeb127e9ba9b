-- wrk: POST /api/auth/login for the user registered by auth-throughput.sh.
wrk.method = "POST"
wrk.path = "/api/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"login":"' .. os.getenv("BENCH_LOGIN") .. '","password":"bench-password-1"}'

local reported = false
function response(status, headers, body)
  if status ~= 200 and not reported then
    reported = true
    io.stderr:write("first unexpected response: " .. status .. " " .. body .. "\n")
  end
end
