"""A 所属 over the years: its figures round by round (following reorganisations), item changes, targets."""
