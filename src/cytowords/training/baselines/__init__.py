"""Classical baselines (grey-level-index profiles) to compare learned models against."""
