"""The MQTT topic tree of the device contract (docs/device-protocol.md)."""
from __future__ import annotations

from dataclasses import dataclass

from pilecare.domain import MessageKind

_KINDS = {kind.value: kind for kind in MessageKind}


@dataclass(frozen=True)
class Topics:
    prefix: str = "pilecare/v1"

    def pile(self, pile_id: str, leaf: str) -> str:
        return f"{self.prefix}/piles/{pile_id}/{leaf}"

    def telemetry(self, pile_id: str) -> str:
        return self.pile(pile_id, "telemetry")

    def status(self, pile_id: str) -> str:
        return self.pile(pile_id, "status")

    def events(self, pile_id: str) -> str:
        return self.pile(pile_id, "events")

    def commands(self, pile_id: str) -> str:
        return self.pile(pile_id, "commands")

    def command_ack(self, pile_id: str) -> str:
        return self.pile(pile_id, "commands/ack")

    def ocpp(self, pile_id: str) -> str:
        """Where the OCPP gateway hands ingest each accepted CALL of charger `pile_id`."""
        return self.pile(pile_id, "ocpp")

    def engineer_work_orders(self, engineer_id: str) -> str:
        return f"{self.prefix}/engineers/{engineer_id}/work-orders"

    def staff_notices(self, role: str) -> str:
        """Notices to people in a role (dispatcher, supervisor): SLA, safety, escalations."""
        return f"{self.prefix}/staff/{role}/notices"

    def ingest_subscriptions(self, group: str) -> list[str]:
        """Shared subscriptions: every worker in `group` gets a share of each topic.

        An empty group gives plain subscriptions for a single worker. Mosquitto 2.0.x
        does not restore shared subscriptions from its persistence file, so messages
        published after a broker restart and before the workers re-subscribe are lost;
        plain subscriptions are restored and lose nothing (docs/internals.md, "Broker restarts").
        """
        share = f"$share/{group}/" if group else ""
        return [f"{share}{self.prefix}/piles/+/{kind.value}" for kind in MessageKind]

    def parse(self, topic: str) -> tuple[str, MessageKind] | None:
        """(pile_id, kind) for an uplink topic of this tree, else None."""
        head = self.prefix + "/piles/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head):]
        pile_id, sep, leaf = rest.partition("/")
        kind = _KINDS.get(leaf)
        if not sep or not pile_id or kind is None:
            return None
        return pile_id, kind
