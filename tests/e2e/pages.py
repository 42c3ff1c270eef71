"""The pages of the lead's, approver's and finance's journeys, for the tests that visit every page."""

#: (who, path, text the page must show): each page of the journeys, as its user opens it.
PAGES = [
    ("research-lead", "/teams/", "ml-research"),
    ("research-lead", "/namespaces/ml-research/", "ml-research-quota"),
    ("research-lead", "/requests/new/change_quota/?namespace=ml-research", "Justification"),
    ("research-lead", "/requests/", "ml-research"),
    ("approver", "/queue/", "Guaranteed GPUs"),
    ("approver", "/cluster/", "guaranteed"),
    ("finance", "/chargeback/", "Chargeback"),
]
