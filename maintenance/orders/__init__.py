"""Work orders: the lifecycle and its vocabulary, the policy step, remote triage, verification, SLA clocks, safety, fault reports and the desk's moves."""
