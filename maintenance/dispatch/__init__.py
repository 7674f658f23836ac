"""Dispatch: the engineer roster, matching ready work orders to engineers, travel estimates and the life of an offer."""
from maintenance.dispatch.matching import DispatchConfig
from maintenance.dispatch.travel import DEFAULT as DEFAULT_TRAVEL
from maintenance.dispatch.travel import Travel

__all__ = ["DEFAULT_TRAVEL", "DispatchConfig", "Travel"]
