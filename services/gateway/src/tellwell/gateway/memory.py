"""The replica's in-memory read model: the cards of the live stories, with what the feed filters,
sorts and searches on, so that a feed query needs no store query.

One ``ReadModel`` per replica, filled once at start (``load``) and kept current by the change feed
(``live.ChangeFeed`` applies each batch of new writes before it moves the data version), so
replicas still need no coordination: each holds what the store holds, a poll behind.

Layout: one *slot* per held story. What a filter tests is a numpy column (category code, lean
flags, confidence, newest article in ms, hotness, text length), so a filter is a few vectorised
comparisons over every slot (tens of µs at 20,000 stories) whatever it selects; a feed order is a
permutation of the slots, rebuilt after a change. Text search is an inverted index: each word has
the sorted slots it occurs in and its frequency there (``array`` of int32 / uint16), the
vocabulary is a sorted list, so a query word's prefix is one range of it. The card itself is kept
as the JSON bytes a response is made of.

**Bounded**: at most ``cap`` stories are held; beyond, the story with the oldest newest article
leaves first. The model then remembers an upper bound of what left (its newest article time, its
hotness) and answers only what it can prove complete: a ``hot``/``new`` page whose last story
still beats those bounds (or whose ``since`` excludes them all). ``feed`` returns ``None`` for the
rest (deep pages, ``relevance`` ranks and category counts, which need every story), and the caller
asks the store. The same query gives the same bytes either way (``tests/gateway/test_memory.py``).
"""

from __future__ import annotations

import asyncio
import math
from array import array
from bisect import bisect_left, insort
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from tellwell.common.events import Category
from tellwell.gateway.domain import (
    CursorKey,
    FeedQuery,
    Page,
    card_digest,
    encode_cursor,
    ms,
    story_card,
)
from tellwell.gateway.search import bm25, prefix_end, story_text

Doc = dict[str, Any]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

CATEGORIES = [c.value for c in Category]
_CATEGORY_CODE = {c: i for i, c in enumerate(CATEGORIES)}
LEFT, CENTER, RIGHT, BLINDSPOT = 1, 2, 4, 8
_LEAN_FLAG = {"left": LEFT, "center": CENTER, "right": RIGHT, "blindspot": BLINDSPOT}
_NO_SLOTS = np.zeros(0, dtype=np.int32)
_NO_TF = np.zeros(0, dtype=np.uint16)
_YIELD_EVERY = 1000
_WORDS_KEPT = 4096
_WORDS_SIZE = 1 << 21  # postings (6 bytes each) the word memo may hold: 12 MB


class ReadModel:
    """The live stories' cards of this replica, answering feed queries alone where it can."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1 (no model at all turns memory answers off)")
        self.cap = cap
        self.loaded = False
        self._clear()

    def _clear(self) -> None:
        self._slot: dict[str, int] = {}
        self._free: list[int] = []
        self._top = 0  # slots in use are below this
        self._ids: list[str | None] = []
        self._cards: list[bytes] = []  # b"" in a free slot
        self._digests: list[bytes] = []
        self._last_dt: list[datetime | None] = []
        self._version: list[int] = []
        self._written: list[int] = []  # updated_at in ms: with the version, what a cached page is of
        self._terms: list[tuple[str, ...]] = []
        self._sources_of: list[tuple[str, ...]] = []
        size = 1024
        self._used = np.zeros(size, dtype=np.bool_)
        self._cat = np.full(size, -1, dtype=np.int8)
        self._lang = np.full(size, -1, dtype=np.int16)  # codes of _languages
        self._languages: dict[str, int] = {}
        self._flags = np.zeros(size, dtype=np.uint8)
        self._conf = np.full(size, np.nan)
        self._last = np.zeros(size, dtype=np.int64)
        self._hot = np.zeros(size)
        self._len = np.zeros(size)
        self._postings: dict[str, tuple[array[int], array[int]]] = {}
        self._vocab: list[str] = []
        self._by_source: dict[str, array[int]] = {}
        self._count = 0
        self._total_length = 0
        self._orders: tuple[dict[str, tuple[IntArray, IntArray]], IntArray] | None = None
        self._words: dict[str, tuple[Any, Any, int]] = {}  # query word -> its postings, until a change
        self._words_size = 0  # postings held in _words
        # Upper bounds of the live stories the model does not hold (None: it holds every one).
        self._unheld_new: int | None = None
        self._unheld_hot: float | None = None
        self._bulk = False

    # ------------------------------------------------------------------ what it holds

    def __len__(self) -> int:
        return self._count

    @property
    def complete(self) -> bool:
        """Loaded, and holding every live story of the store (as of the last poll)."""
        return self.loaded and self._unheld_new is None

    def version_of(self, story_id: str) -> tuple[int, int] | None:
        """The version and write time (ms) of a held story's view: a cache key finer than the data
        version (a story's page outlives other stories' writes)."""
        slot = self._slot.get(story_id)
        return None if slot is None else (self._version[slot], self._written[slot])

    async def load(self, docs: AsyncIterable[Doc] | Iterable[Doc]) -> datetime | None:
        """Hold these card documents from scratch: live stories, newest article first. Holds the
        first ``cap``; returns the newest-article time of the first one left out (``None`` when
        none is), which ``finish_load`` bounds. Until then ``loaded`` is false and every query goes
        to the store. Yields to the event loop now and then (documents come in as they are read)."""
        self.loaded = False
        self._clear()
        self._bulk = True
        left_out: datetime | None = None
        stream = _enumerate(docs)
        try:
            async for i, doc in stream:
                if self._count >= self.cap:
                    left_out = doc.get("last_published_at")
                    break
                self.upsert(doc)
                if i % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)
        finally:
            self._bulk = False
            self._vocab = sorted(self._postings)
            await stream.aclose()
            if isinstance(docs, AsyncGenerator):  # a store cursor: close it now, not when collected
                await docs.aclose()
        if left_out is None:
            self.loaded = True
        return left_out

    def finish_load(self, unheld_new: datetime, unheld_hot: float | None) -> None:
        """Bound the live stories ``load`` left in the store: their newest article is at most
        ``unheld_new``, their hotness at most ``unheld_hot`` (``None``: unknown). Then loaded."""
        self._note_unheld(ms(unheld_new), math.inf if unheld_hot is None else unheld_hot)
        self.loaded = True

    # ------------------------------------------------------------------ changes

    def apply(self, docs: Iterable[Doc], removed: Iterable[str] = ()) -> bool:
        """New writes (card documents, as polled) and deleted stories; whether what it holds changed."""
        changed = False
        for doc in docs:
            changed |= self.upsert(doc)
        for story_id in removed:
            changed |= self.drop(story_id)
        return changed

    def upsert(self, doc: Doc) -> bool:
        story_id = doc["_id"]
        slot = self._slot.get(story_id)
        version = doc.get("version") or 0
        if slot is not None and self._version[slot] > version:
            return False  # an older write than the one held
        if doc.get("merged_into") is not None:
            return self.drop(story_id)
        last = _last_ms(doc)
        if slot is None:
            if self._count >= self.cap:
                oldest = self._oldest()
                oldest_id = self._ids[oldest]
                assert oldest_id is not None
                if (last, story_id) <= (int(self._last[oldest]), oldest_id):
                    self._note_unheld(last, _hotness(doc))  # older than all it holds: stays out
                    return False
                self._note_unheld(int(self._last[oldest]), float(self._hot[oldest]))
                self._release(oldest)
            slot = self._allocate(story_id)
        else:
            self._unindex(slot)
        self._index(slot, doc, last)
        return True

    def drop(self, story_id: str) -> bool:
        slot = self._slot.get(story_id)
        if slot is None:
            return False
        self._release(slot)
        return True

    def _note_unheld(self, last: int, hot: float) -> None:
        self._unheld_new = last if self._unheld_new is None else max(self._unheld_new, last)
        self._unheld_hot = hot if self._unheld_hot is None else max(self._unheld_hot, hot)

    def _oldest(self) -> int:
        top = self._top
        last = np.where(self._used[:top], self._last[:top], np.iinfo(np.int64).max)
        return int(last.argmin())

    def _allocate(self, story_id: str) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = self._top
            self._top += 1
            if slot >= len(self._used):
                self._grow()
            self._ids.append(None)
            self._cards.append(b"")
            self._digests.append(b"")
            self._last_dt.append(None)
            self._version.append(0)
            self._written.append(0)
            self._terms.append(())
            self._sources_of.append(())
        self._slot[story_id] = slot
        self._ids[slot] = story_id
        return slot

    def _grow(self) -> None:
        size = 2 * len(self._used)
        for name, fill in (
            ("_used", False),
            ("_cat", -1),
            ("_lang", -1),
            ("_flags", 0),
            ("_conf", np.nan),
            ("_last", 0),
            ("_hot", 0.0),
            ("_len", 0.0),
        ):
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _release(self, slot: int) -> None:
        self._unindex(slot)
        story_id = self._ids[slot]
        assert story_id is not None
        del self._slot[story_id]
        self._ids[slot] = None
        self._cards[slot] = b""
        self._last_dt[slot] = None
        self._version[slot] = 0
        self._free.append(slot)

    def _index(self, slot: int, doc: Doc, last: int) -> None:
        text = story_text(doc)
        self._used[slot] = True
        self._cat[slot] = _CATEGORY_CODE.get(doc.get("category"), -1)  # type: ignore[arg-type]
        language = doc.get("language")
        language = language if isinstance(language, str) else "und"
        if language not in self._languages and len(self._languages) < 30_000:
            self._languages[language] = len(self._languages)
        self._lang[slot] = self._languages.get(language, -1)
        flags = 0
        for side, flag in (("left", LEFT), ("center", CENTER), ("right", RIGHT)):
            share = doc.get(f"lean_{side}")
            if isinstance(share, int | float) and share > 0:
                flags |= flag
        if doc.get("blindspot") is not None:
            flags |= BLINDSPOT
        self._flags[slot] = flags
        confidence = doc.get("confidence")
        self._conf[slot] = confidence if isinstance(confidence, int | float) else np.nan
        self._last[slot] = last
        self._hot[slot] = _hotness(doc)
        self._len[slot] = text.length
        self._last_dt[slot] = doc.get("last_published_at")
        self._version[slot] = doc.get("version") or 0
        written = doc.get("updated_at")
        self._written[slot] = ms(written) if isinstance(written, datetime) else 0
        # A copy: orjson's own bytes object keeps its whole write buffer (8 KB here per card).
        card = bytes(memoryview(orjson.dumps(story_card(doc))))
        self._cards[slot] = card
        self._digests[slot] = card_digest(card)
        terms = tuple(text.tf)
        self._terms[slot] = terms
        for term, tf in text.tf.items():
            self._add_posting(term, slot, tf)
        sources = tuple({s for s in doc.get("sources") or () if isinstance(s, str)})
        self._sources_of[slot] = sources
        for source in sources:
            slots = self._by_source.setdefault(source, array("i"))
            _insert(slots, slot)
        self._count += 1
        self._total_length += text.length
        self._orders = None
        self._forget_words()

    def _forget_words(self) -> None:
        if self._words:
            self._words.clear()
            self._words_size = 0

    def _unindex(self, slot: int) -> None:
        if not self._used[slot]:
            return
        self._used[slot] = False
        for term in self._terms[slot]:
            self._remove_posting(term, slot)
        self._terms[slot] = ()
        for source in self._sources_of[slot]:
            slots = self._by_source[source]
            del slots[bisect_left(slots, slot)]
            if not slots:
                del self._by_source[source]
        self._sources_of[slot] = ()
        self._count -= 1
        self._total_length -= int(self._len[slot])
        self._orders = None
        self._forget_words()

    def _add_posting(self, term: str, slot: int, tf: int) -> None:
        posting = self._postings.get(term)
        if posting is None:
            self._postings[term] = (array("i", [slot]), array("H", [tf]))
            if not self._bulk:
                insort(self._vocab, term)
            return
        slots, tfs = posting
        at = _insert(slots, slot)
        tfs.insert(at, tf)

    def _remove_posting(self, term: str, slot: int) -> None:
        slots, tfs = self._postings[term]
        at = bisect_left(slots, slot)
        del slots[at]
        del tfs[at]
        if not slots:
            del self._postings[term]
            del self._vocab[bisect_left(self._vocab, term)]

    # ------------------------------------------------------------------ queries

    def feed(self, query: FeedQuery, after: CursorKey | None, limit: int) -> Page | None:
        """The feed page for ``query`` after ``after``, or ``None`` when only the store can tell."""
        if not self.loaded:
            return None
        if query.sort == "relevance":
            return self._ranked(query, after, limit) if self.complete else None
        order, position = self._order(query.sort)
        keys: npt.NDArray[Any] = self._hot if query.sort == "hot" else self._last
        start = 0
        if after is not None:
            value = ms(after.value) if isinstance(after.value, datetime) else after.value
            start = self._position(order, keys, value, after.story_id)
        candidates = self._candidates(query)
        if candidates is None:  # nothing narrows it down: walk the order until the page is full
            page = self._scan(order, start, query, limit + 1)
        else:  # the stories with every word (and the source): only those are tested and sorted
            at = position[candidates[self._passes(query, candidates)]]
            at = at[at >= start]
            if len(at) > limit + 1:
                at = np.partition(at, limit)[: limit + 1]
            at.sort()
            page = [int(s) for s in order[at]]
        if not self._provably_complete(query, page, limit, keys):
            return None
        cursor = None
        if len(page) > limit:
            page = page[:limit]
            last = page[-1]
            field = "hotness" if query.sort == "hot" else "last_published_at"
            value_of = float(self._hot[last]) if query.sort == "hot" else self._last_dt[last]
            cursor = encode_cursor(query, {"_id": self._ids[last], field: value_of})
        cards, digests = self._cards, self._digests
        return Page([cards[s] for s in page], cursor, [digests[s] for s in page])

    def _provably_complete(
        self, query: FeedQuery, page: list[int], limit: int, keys: npt.NDArray[Any]
    ) -> bool:
        if self._unheld_new is None:
            return True
        if query.since is not None and ms(query.since) > self._unheld_new:
            return True  # every story it does not hold is older than the query looks back
        if len(page) <= limit:
            return False  # the store may hold more matches after these
        bound = self._unheld_hot if query.sort == "hot" else self._unheld_new
        return bool(keys[page[-1]] > bound)

    def _ranked(self, query: FeedQuery, after: CursorKey | None, limit: int) -> Page:
        candidates = self._candidates(query)
        assert candidates is not None  # relevance always has words
        candidates = candidates[self._passes(query, candidates)]
        tfs, dfs = [], []
        for word in query.words:
            slots, tf, _ = self._word_postings(word)
            full = np.bincount(slots, weights=tf, minlength=self._top).astype(np.float64, copy=False)
            dfs.append(int(np.count_nonzero(full)))
            tfs.append(full[candidates])
        scores = bm25(tfs, self._len[candidates], dfs, self._count, self._total_length)
        _, rank = self._orders_and_rank()
        order = np.lexsort((rank[candidates], scores))[::-1]
        candidates, scores = candidates[order], scores[order]
        start = 0
        if after is not None:
            value = float(after.value)  # type: ignore[arg-type]
            start = self._position_in(candidates, scores, value, after.story_id)
        end = min(len(candidates), start + limit + 1)
        page = [(int(candidates[i]), float(scores[i])) for i in range(start, end)]
        cursor = None
        if len(page) > limit:
            page = page[:limit]
            slot, score = page[-1]
            cursor = encode_cursor(query, {"_id": self._ids[slot], "_score": score})
        cards, digests = self._cards, self._digests
        return Page([cards[s] for s, _ in page], cursor, [digests[s] for s, _ in page])

    def card_if_matches(self, story_id: str, query: FeedQuery) -> bytes | bool | None:
        """A held story's card when it belongs in ``query``'s feed, else ``None``; ``False`` when
        the model cannot tell (a story it may not hold)."""
        if not self.loaded:
            return False
        slot = self._slot.get(story_id)
        if slot is None:
            return None if self.complete else False
        one = np.array([slot], dtype=np.int64)
        candidates = self._candidates(query)
        if candidates is not None and not np.isin(one, candidates).all():
            return None
        return self._card(slot) if self._passes(query, one).all() else None

    def category_counts(self) -> dict[str, int] | None:
        """Live stories per category (present ones only), or ``None`` when it does not hold them all."""
        if not self.complete:
            return None
        top = self._top
        codes = self._cat[:top][self._used[:top] & (self._cat[:top] >= 0)]
        counts = np.bincount(codes.astype(np.int64), minlength=len(CATEGORIES))
        return {CATEGORIES[i]: int(n) for i, n in enumerate(counts) if n}

    # ------------------------------------------------------------------ pieces of a query

    def _card(self, slot: int) -> bytes:
        return self._cards[slot]

    def _candidates(self, query: FeedQuery) -> IntArray | None:
        """The held slots with every query word and the query's source (sorted), or ``None`` when
        the query has neither (every held story is a candidate)."""
        sets: list[npt.NDArray[Any]] = []  # slot lists
        distinct = True  # every list sorted, without repeats
        if query.source is not None:
            slots = self._by_source.get(query.source)
            if slots is None:
                return np.zeros(0, dtype=np.int64)
            sets.append(np.frombuffer(bytes(slots), dtype=np.int32))
        for word in query.words:
            found, _, terms = self._word_postings(word)
            sets.append(found)
            distinct &= terms <= 1  # one word's list is sorted and distinct; several are not
        if not sets:
            return None
        top = self._top
        if not distinct or sum(len(found) for found in sets) > top // 8:  # bit masks beat sorting
            mask = np.zeros(top, dtype=np.bool_)
            mask[sets[0]] = True
            for other in sets[1:]:
                also = np.zeros(top, dtype=np.bool_)
                also[other] = True
                mask &= also
            return np.flatnonzero(mask)
        sets.sort(key=len)
        result = sets[0]
        for other in sets[1:]:
            if not len(result):
                break
            result = np.intersect1d(result, other, assume_unique=True)
        return result.astype(np.int64)

    def _passes(self, query: FeedQuery, slots: IntArray) -> BoolArray:
        """Which of these held slots pass the query's column filters (all but words and source)."""
        ok = np.ones(len(slots), dtype=np.bool_)
        if query.category is not None:
            ok &= self._cat[slots] == _CATEGORY_CODE[query.category.value]
        if query.language is not None:
            ok &= self._lang[slots] == self._languages.get(query.language, -2)
        if query.lean is not None:
            ok &= (self._flags[slots] & _LEAN_FLAG[query.lean]) != 0
        if query.min_confidence is not None:
            ok &= self._conf[slots] >= query.min_confidence
        if query.since is not None:
            ok &= self._last[slots] >= ms(query.since)
        return ok

    def _scan(self, order: IntArray, start: int, query: FeedQuery, want: int) -> list[int]:
        found: list[int] = []
        step = 256
        while start < len(order) and len(found) < want:
            part = order[start : start + step]
            found += [int(s) for s in part[self._passes(query, part)]]
            start += step
            step = min(step * 4, 1 << 16)
        return found[:want]

    def _word_postings(self, word: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16], int]:
        """Every (slot, frequency) of the words that start with ``word`` (a slot once per word),
        and how many words those are. Remembered until the next change (queries share words)."""
        known = self._words.get(word)
        if known is not None:
            return known
        found = self._gather(word)
        size = len(found[0])
        while self._words and (len(self._words) >= _WORDS_KEPT or self._words_size + size > _WORDS_SIZE):
            self._words_size -= len(self._words.pop(next(iter(self._words)))[0])
        if size <= _WORDS_SIZE:
            self._words[word] = found
            self._words_size += size
        return found

    def _gather(self, word: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16], int]:
        lo = bisect_left(self._vocab, word)
        hi = bisect_left(self._vocab, prefix_end(word), lo)
        if lo == hi:
            return _NO_SLOTS, _NO_TF, 0
        postings = [self._postings[t] for t in self._vocab[lo:hi]]
        # bytes.join copies out of the arrays: no numpy view keeps them from being resized later.
        slots = np.frombuffer(b"".join(p[0] for p in postings), dtype=np.int32)
        tfs = np.frombuffer(b"".join(p[1] for p in postings), dtype=np.uint16)
        return slots, tfs, hi - lo

    def _order(self, sort: str) -> tuple[IntArray, IntArray]:
        """The held slots in ``sort`` order, and each slot's index in it."""
        orders, _ = self._orders_and_rank()
        return orders[sort]

    def _orders_and_rank(self) -> tuple[dict[str, tuple[IntArray, IntArray]], IntArray]:
        """Held slots in each feed order (key descending, then id descending) with each slot's place
        in it, and each slot's rank in id order. Rebuilt on the first query after a change."""
        if self._orders is None:
            top = self._top
            used = np.flatnonzero(self._used[:top])
            by_id = sorted(range(len(used)), key=lambda i: self._ids[used[i]] or "")
            rank = np.zeros(top, dtype=np.int64)
            rank[used[by_id]] = np.arange(len(used))
            orders = {}
            for sort, keys in (("hot", self._hot), ("new", self._last)):
                order = used[np.lexsort((rank[used], keys[used]))[::-1]]
                position = np.zeros(top, dtype=np.int64)
                position[order] = np.arange(len(order))
                orders[sort] = (order, position)
            self._orders = (orders, rank)
        return self._orders

    def _position(self, ordered: IntArray, keys: npt.NDArray[Any], value: float, story_id: str) -> int:
        """Index of the first slot of ``ordered`` that comes after (value, story_id)."""
        lo, hi = 0, len(ordered)
        ids = self._ids
        while lo < hi:
            mid = (lo + hi) // 2
            slot = int(ordered[mid])
            key = keys[slot]
            if key > value or (key == value and ids[slot] >= story_id):  # type: ignore[operator]
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _position_in(
        self, slots: IntArray, scores: npt.NDArray[np.float64], value: float, story_id: str
    ) -> int:
        lo, hi = 0, len(slots)
        ids = self._ids
        while lo < hi:
            mid = (lo + hi) // 2
            score = float(scores[mid])
            if score > value or (score == value and ids[int(slots[mid])] >= story_id):  # type: ignore[operator]
                lo = mid + 1
            else:
                hi = mid
        return lo


async def _enumerate(docs: AsyncIterable[Doc] | Iterable[Doc]) -> AsyncGenerator[tuple[int, Doc]]:
    if isinstance(docs, AsyncIterable):
        i = 0
        async for doc in docs:
            yield i, doc
            i += 1
    else:
        for i, doc in enumerate(docs):
            yield i, doc


def _insert(slots: array[int], slot: int) -> int:
    if not slots or slots[-1] < slot:  # the usual case while loading: slots come in order
        slots.append(slot)
        return len(slots) - 1
    at = bisect_left(slots, slot)
    slots.insert(at, slot)
    return at


def _last_ms(doc: Mapping[str, Any]) -> int:
    when = doc.get("last_published_at")
    return ms(when) if isinstance(when, datetime) else np.iinfo(np.int64).min


def _hotness(doc: Mapping[str, Any]) -> float:
    hot = doc.get("hotness")
    return float(hot) if isinstance(hot, int | float) and not isinstance(hot, bool) else -math.inf
