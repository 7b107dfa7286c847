"""Terminal rendering (rich) and image artifacts: leaderboards, run views, sample grids, plots."""
