"""Files: the experiment record a model carries, safe model persistence and model exports."""
