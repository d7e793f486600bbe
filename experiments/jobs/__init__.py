"""Training jobs: validating and launching them (Table 4.1 presets), cancel and clone, what a
run is doing now; their form, pages and REST API."""
