"""TellWell summarize service.

Writes each story's neutral account; owns summaries; emits story.summary."""
