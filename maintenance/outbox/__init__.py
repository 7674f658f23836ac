"""The outbox: events written in the changing transaction, notices to people, transports (MQTT, webhooks) and their delivery."""
from maintenance.outbox.events import Event, enqueue
from maintenance.outbox.notices import notify

__all__ = ["Event", "enqueue", "notify"]
