"""TellWell gateway: the public, read-only API and web page over the story_views read model."""
