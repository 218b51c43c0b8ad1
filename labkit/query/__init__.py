"""Query clients that turn Prometheus, Loki, Jaeger and Alertmanager answers into pandas."""
