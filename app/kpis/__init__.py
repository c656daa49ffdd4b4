"""Measured paper figures (実績値) beside the self-rating: definitions, values per 所属 and month, entry,
bulk import, the 所属's view and the desk's totals."""
