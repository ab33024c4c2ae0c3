-- GET /auth/verify as nginx's auth_request would send it, with a live session cookie.
wrk.headers["Cookie"] = os.getenv("HB_COOKIE")
wrk.headers["X-Original-URI"] = "/dashboard/patients/1234-5678-3456-2345"
