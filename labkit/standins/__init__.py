"""Servers that speak Loki's and Jaeger's HTTP APIs, for machines without the real ones."""
