-- GET /auth/sso with a fresh, never redeemed link for every request (links minted beforehand,
-- one path per line in HB_TOKENS). Running out of links is reported by the orchestrator.
--
-- Every request is formatted before the run, and the collector is stopped for it: a request
-- then allocates nothing in Lua. Formatting each request as it went left hundreds of thousands
-- of garbage strings for LuaJIT to sweep beside the links, and wrk stopped sending for 25 to
-- 140 ms at a time (a scheduler trace: wrk alone on a CPU, inside libluajit, while handoff
-- idled), which showed up as handoff's p99.
local requests = {}
for line in io.lines(os.getenv("HB_TOKENS")) do requests[#requests + 1] = wrk.format("GET", line) end
collectgarbage("collect")
collectgarbage("stop")
local i = 0
request = function()
  i = i + 1
  return requests[((i - 1) % #requests) + 1]
end
