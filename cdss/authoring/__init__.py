"""The rule author's tools: `cdss rules check`, `cdss rules test` and `cdss rules report`."""
