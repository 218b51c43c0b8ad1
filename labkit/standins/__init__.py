"""Servers that stand in for real ones: Loki's and Jaeger's HTTP APIs, and the notification
sink that takes the place of PagerDuty, Slack and email as every lab receiver's webhook."""
