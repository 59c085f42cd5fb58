"""The bundled reference fraud-detection service: an orchestrator and four agents."""
