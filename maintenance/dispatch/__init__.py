"""Dispatch: the engineer roster, matching ready work orders to engineers, travel estimates and the life of an offer."""
