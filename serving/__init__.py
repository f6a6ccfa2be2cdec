"""Ray Serve graph of the recommendation service: ingress, deployments, builder, config."""
