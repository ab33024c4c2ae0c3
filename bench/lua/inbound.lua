-- POST /v1/inbound/{slug}/sso: every request a distinct, correctly signed event (signed
-- beforehand: "timestamp<TAB>signature<TAB>body" per line in HB_EVENTS).
--
-- Formatted before the run, the collector stopped for it: see redeem.lua.
local path = os.getenv("HB_PATH")
local requests = {}
for line in io.lines(os.getenv("HB_EVENTS")) do
  local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
  requests[#requests + 1] = wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Vinst-Timestamp"] = ts,
    ["Vinst-Signature"] = sig,
  }, body)
end
collectgarbage("collect")
collectgarbage("stop")
local i = 0
request = function()
  i = i + 1
  return requests[((i - 1) % #requests) + 1]
end
