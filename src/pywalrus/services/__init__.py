"""HTTP faces of the SDK: the aggregator, the publisher and the daemon that is both.

`services.http` is what every service shares (the app factory with CORS, the JSON error
envelope, query checks, `/status`, `/v1/api`, metrics and the runner with graceful shutdown);
each service module adds its routes to such an app (`add_aggregator_routes`,
`add_publisher_routes`). Services speak to Walrus only through `client/` (and `network/`,
`core/` for types); they hold no protocol logic of their own.
"""
