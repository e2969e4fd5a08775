"""Running jobs: claims (every write on a run), the run lifecycle, policies, executors, dispatch, the store seam."""
