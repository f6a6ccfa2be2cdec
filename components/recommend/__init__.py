"""The request path's plain logic: catalog lookups, candidate sources (ANN, popularity,
co-visitation), candidate merging, ranker scoring, reasons, A/B assignment, feedback checks and
the prediction log. Ray Serve deployments in `serving/` call these; nothing here imports Ray."""
