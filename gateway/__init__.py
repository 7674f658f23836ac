"""Everything that speaks to piles: MQTT topics, connections, the device protocol, commands."""
