"""Research on finished runs: per-image predictions and their paired statistics, Table 4.2
comparisons, studies (grids of jobs), retention of "try the model" images; forms, pages, API."""
