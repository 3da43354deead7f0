from tellwell.common.topics import MAIN_TOPICS, Topic, dlq_name, topic_specs


class TestTopicNames:
    def test_exactly_the_four_topics_and_their_dlqs(self):
        assert {t.value for t in Topic} == {
            "raw.article",
            "story.cluster",
            "story.summary",
            "story.scored",
            "raw.article.dlq",
            "story.cluster.dlq",
            "story.summary.dlq",
            "story.scored.dlq",
        }

    def test_each_main_topic_maps_to_its_dlq(self):
        assert [t.dlq for t in MAIN_TOPICS] == [Topic(dlq_name(t.value)) for t in MAIN_TOPICS]
        assert Topic.story_scored.dlq is Topic.story_scored_dlq


class TestTopicSpecs:
    def test_story_topics_are_compacted_raw_article_is_time_retained(self):
        specs = {s.name: s for s in topic_specs(partitions=6)}

        assert set(specs) == {t.value for t in Topic}
        for name in ("story.cluster", "story.summary", "story.scored"):
            assert specs[name].config["cleanup.policy"] == "compact"
            assert specs[name].partitions == 6
        assert specs["raw.article"].config["cleanup.policy"] == "delete"
        assert int(specs["raw.article"].config["retention.ms"]) == 7 * 24 * 3600 * 1000
        assert all(specs[t.dlq.value].config["cleanup.policy"] == "delete" for t in MAIN_TOPICS)
