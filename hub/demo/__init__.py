"""``hub demo``: simulated agencies driving a realistic exchange through a real hub."""
