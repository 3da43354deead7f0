"""The one JSONL reader: every bad line is a JsonlError naming the file, the line and the problem."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tellwell.common.jsonl import JsonlError, parse_datetime, read_jsonl

GOOD = '{"id": "a1", "title": "Quake hits", "published_at": "2026-03-02T02:28:29Z", "story": "s1"}'


def write(tmp_path, *lines: str, name: str = "stream.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_of(path, **kwargs) -> JsonlError:
    with pytest.raises(JsonlError) as info:
        list(read_jsonl(path, **kwargs))
    return info.value


class TestReadJsonl:
    def test_reads_objects_and_skips_blank_lines(self, tmp_path):
        path = write(tmp_path, GOOD, "", "   ", GOOD.replace("a1", "a2"))
        assert [row["id"] for row in read_jsonl(path)] == ["a1", "a2"]

    def test_declared_dates_come_back_as_aware_datetimes(self, tmp_path):
        path = write(tmp_path, GOOD, GOOD.replace("02:28:29Z", "02:28:29+02:00"))
        first, second = read_jsonl(path, required={"published_at": datetime})
        assert first["published_at"] == datetime(2026, 3, 2, 2, 28, 29, tzinfo=UTC)
        assert second["published_at"].utcoffset() == timedelta(hours=2)

    def test_undeclared_fields_pass_through_unchanged(self, tmp_path):
        (row,) = read_jsonl(write(tmp_path, GOOD), required=("id",))
        assert row["published_at"] == "2026-03-02T02:28:29Z"

    def test_missing_required_field(self, tmp_path):
        path = write(tmp_path, GOOD, '{"id": "a2", "title": "x", "story": "s1"}')
        error = error_of(path, required={"id": str, "published_at": datetime})
        assert str(error) == f"{path}:2: missing field 'published_at'"
        assert (error.path, error.line, error.message) == (str(path), 2, "missing field 'published_at'")

    def test_null_required_field(self, tmp_path):
        path = write(tmp_path, GOOD.replace('"s1"', "null"))
        assert str(error_of(path, required=("story",))) == f"{path}:1: field 'story' is null"

    def test_line_numbers_count_blank_lines(self, tmp_path):
        path = write(tmp_path, GOOD, "", "{not json")
        error = error_of(path)
        assert error.line == 3
        assert error.message.startswith("not JSON: ")

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("[1, 2]", "not a JSON object but a list"),
            ('"just text"', "not a JSON object but a string"),
            ("17", "not a JSON object but a number"),
        ],
    )
    def test_a_line_that_is_not_an_object(self, tmp_path, line, message):
        assert error_of(write(tmp_path, GOOD, line)).message == message

    @pytest.mark.parametrize("stamp", ['"yesterday"', '"02/03/2026"', "1709346509", "true"])
    def test_a_date_that_is_not_iso_8601(self, tmp_path, stamp):
        path = write(tmp_path, GOOD.replace('"2026-03-02T02:28:29Z"', stamp))
        error = error_of(path, required={"published_at": datetime})
        assert error.line == 1
        assert error.message.startswith("field 'published_at' should be an ISO 8601 date-time string, not ")

    def test_wrong_type_of_a_string_field(self, tmp_path):
        path = write(tmp_path, GOOD.replace('"Quake hits"', "42"))
        error = error_of(path, optional={"title": str})
        assert error.message == "field 'title' should be a string, not a number: 42"

    def test_alternative_kinds(self, tmp_path):
        path = write(tmp_path, GOOD.replace('"a1"', "7"), GOOD.replace('"a1"', "[7]"))
        error = error_of(path, required={"id": (str, int)})
        assert error.line == 2
        assert error.message == "field 'id' should be a string or an integer, not a list: [7]"

    def test_booleans_are_not_numbers(self, tmp_path):
        path = write(tmp_path, '{"score": true}')
        error = error_of(path, required={"score": float})
        assert error.message.startswith("field 'score' should be a number")

    def test_optional_fields_may_be_absent_or_null(self, tmp_path):
        path = write(tmp_path, '{"id": "a", "title": null}', '{"id": "b"}')
        rows = list(read_jsonl(path, required={"id": str}, optional={"title": str, "published_at": datetime}))
        assert [r["id"] for r in rows] == ["a", "b"]

    def test_not_utf8(self, tmp_path):
        path = tmp_path / "latin1.jsonl"
        path.write_bytes(GOOD.encode() + b"\n" + '{"title": "café"}'.encode("latin-1") + b"\n")
        error = error_of(path)
        assert error.line == 2
        assert error.message.startswith("not UTF-8 text")

    def test_stops_at_the_first_bad_line(self, tmp_path):
        path = write(tmp_path, GOOD, "{bad", GOOD)
        rows = read_jsonl(path)
        assert next(rows)["id"] == "a1"
        with pytest.raises(JsonlError):
            next(rows)

    def test_skipped_lines_are_collected_and_the_read_goes_on(self, tmp_path):
        path = write(tmp_path, GOOD, "{bad", "[1]", GOOD.replace("a1", "a2"), '{"id": "a3"}')
        skipped: list[JsonlError] = []
        rows = list(read_jsonl(path, required={"published_at": datetime}, skipped=skipped))
        assert [row["id"] for row in rows] == ["a1", "a2"]
        assert [(e.line, e.message.split(":")[0]) for e in skipped] == [
            (2, "not JSON"),
            (3, "not a JSON object but a list"),
            (5, "missing field 'published_at'"),
        ]

    def test_a_missing_file_is_not_a_jsonl_error(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            list(read_jsonl(tmp_path / "nope.jsonl"))


class TestParseDatetime:
    def test_z_suffix(self):
        assert parse_datetime("2026-03-02T02:28:29.286309Z").tzinfo == UTC

    def test_naive_is_utc(self):
        assert parse_datetime("2026-03-02T02:28:29") == datetime(2026, 3, 2, 2, 28, 29, tzinfo=UTC)

    def test_offset_kept(self):
        assert parse_datetime("2026-03-02T02:28:29-05:00").tzinfo == timezone(timedelta(hours=-5))
