"""Who may have what: cost centers, GPU tiers, teams, namespaces' desired state, requests, audit."""
