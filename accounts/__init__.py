"""People's API tokens and their profile page."""
