"""TellWell ingest service.

Reads feeds, pushed and imported articles; owns feeds, articles and sources; emits raw.article."""
