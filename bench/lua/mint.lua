-- POST /v1/sso with the seed's five headers and body (also the baseline's request shape).
-- With HB_COLLECT set, the redirect paths of the answers are written to that file (one per line).
wrk.method = "POST"
wrk.body = '{"redirect_path": "/dashboard/patients/1234-5678-3456-2345"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-partner-id"] = os.getenv("HB_PARTNER_ID")
wrk.headers["x-partner-secret"] = os.getenv("HB_PARTNER_SECRET")
wrk.headers["x-organization-id"] = os.getenv("HB_ORG_ID")
wrk.headers["x-organization-secret"] = os.getenv("HB_ORG_SECRET")
wrk.headers["x-user-id"] = os.getenv("HB_USER_ID")

local collect = os.getenv("HB_COLLECT")
if collect then
  local out = io.open(collect, "a")
  response = function(status, headers, body)
    local path = body:match('"redirect_url":"[^"]-(/auth/sso[^"]*)"')
    if path then out:write(path, "\n") end
  end
end
