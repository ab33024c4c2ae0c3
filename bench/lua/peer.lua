-- node-oidc-provider's token endpoint: an OAuth client-credentials grant.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("HB_BASIC")
