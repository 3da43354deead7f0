"""TellWell score service.

Scores confidence, lean and ranking; writes the story_views read model; emits story.scored."""
