"""pilecare shared package: settings, database access, migrations and domain types."""
