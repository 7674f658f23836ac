"""Settings from the environment."""
from __future__ import annotations

import pytest

from pilecare.settings import Settings, parse_mqtt_url


def test_mqtt_urls_carry_scheme_credentials_and_default_ports():
    plain = parse_mqtt_url("mqtt://broker.example:1884")
    assert (plain.host, plain.port, plain.tls, plain.username) == ("broker.example", 1884, False, None)
    secure = parse_mqtt_url("mqtts://ingest:p%40ss@broker.example")
    assert (secure.port, secure.tls, secure.username, secure.password) == (8883, True, "ingest", "p@ss")
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        parse_mqtt_url("http://broker.example")


def test_a_topic_prefix_with_wildcards_is_refused():
    with pytest.raises(ValueError, match="wildcards"):
        Settings(topic_prefix="pilecare/+/v1")
