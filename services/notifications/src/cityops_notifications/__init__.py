"""CityOps notifications: who must know, once, in their language (subscriptions, deliveries, CAP 1.2)."""

SERVICE_NAME = "notifications"
