"""Running the lab: the service catalog, the local runtime, provisioning and the model."""
