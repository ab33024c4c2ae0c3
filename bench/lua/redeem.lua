-- GET /auth/sso with a fresh, never redeemed link for every request (links minted beforehand,
-- one path per line in HB_TOKENS). Running out of links is reported by the orchestrator.
local paths = {}
for line in io.lines(os.getenv("HB_TOKENS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[((i - 1) % #paths) + 1])
end
