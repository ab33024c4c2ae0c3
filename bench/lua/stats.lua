-- GET /admin/v1/stats with the admin token: the console's overview numbers.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("HB_ADMIN_TOKEN")
