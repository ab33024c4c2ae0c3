-- POST /v1/inbound/{slug}/sso: every request a distinct, correctly signed event (signed
-- beforehand: "timestamp<TAB>signature<TAB>body" per line in HB_EVENTS).
local events = {}
for line in io.lines(os.getenv("HB_EVENTS")) do
  local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
  events[#events + 1] = { ts, sig, body }
end
local path = os.getenv("HB_PATH")
local i = 0
request = function()
  i = i + 1
  local e = events[((i - 1) % #events) + 1]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Vinst-Timestamp"] = e[1],
    ["Vinst-Signature"] = e[2],
  }, e[3])
end
