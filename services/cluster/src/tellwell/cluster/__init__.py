"""TellWell cluster service.

Groups articles into stories; owns the vector index and story membership; emits story.cluster."""
