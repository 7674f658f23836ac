"""The outbox: events written in the changing transaction, notices to people, transports (MQTT, webhooks) and their delivery."""
