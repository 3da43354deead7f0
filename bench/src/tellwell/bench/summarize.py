"""``tellwell bench summarize``: speed and category accuracy on a labelled JSONL stream (read as
``tellwell summarize train-category`` reads it, ``tellwell.summarize.train.read_stories``).

Stories are the stream's gold stories (the gold label is read only to form stories and to score).
The UCI headline stream has no article text, so speed is measured twice: on the real headlines
(headline-only stories, as many feeds deliver them) and on articles whose text is synthesised from
real text, namely five other headlines of the same story as five sentences.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from tellwell.bench.options import JsonOnly
from tellwell.bench.redundancy import redundancy, threshold_report
from tellwell.common.embed import TextEncoder
from tellwell.common.events import Category
from tellwell.common.testing import make_story_cluster
from tellwell.summarize.category import CategoryModel, Weights, bundled_model
from tellwell.summarize.domain import Article, prepare, summarize
from tellwell.summarize.embedding import SentenceVectors, default_encoder
from tellwell.summarize.text import clear_caches
from tellwell.summarize.train import read_stories

SMALL_STORY = 3  # headlines per small held-out story

# UCI's own definition of its labels is "b = business, t = science and technology, e = entertainment,
# m = health" (the News Aggregator data set's README): our taxonomy splits its "t" in two, so a "t"
# story classified as science is right by the data's definition. The strict figure (t = technology
# only) is reported beside it.
ALSO_RIGHT: dict[Category, frozenset[Category]] = {Category.technology: frozenset({Category.science})}


def correct(predicted: Category, gold: Category, *, strict: bool = False) -> bool:
    """Whether ``predicted`` is the gold label, or a category the gold label covers."""
    return predicted == gold or (not strict and predicted in ALSO_RIGHT.get(gold, ()))


def to_article(row: dict[str, Any], text: str = "") -> Article:
    """A row of ``read_stories`` as the summariser's article."""
    return Article(
        article_id=str(row["id"]),
        url=row.get("url") or "",
        source=row.get("source") or "unknown",
        title=row.get("title") or "",
        text=text,
        published_at=row["published_at"],
    )


def story_sets(stories: list[list[dict[str, Any]]], size: int, with_text: bool) -> list[list[Article]]:
    out: list[list[Article]] = []
    for rows in stories:
        if len(rows) < size:
            continue
        chosen = rows[:size]
        titles = [r.get("title") or "" for r in rows]
        articles = []
        for k, row in enumerate(chosen):
            text = ""
            if with_text:
                others = [t.rstrip(" .") + "." for j, t in enumerate(titles) if j != k][k % 7 : k % 7 + 5]
                text = " ".join(others)
            articles.append(to_article(row, text))
        out.append(articles)
    return out


def throughput(
    sets: list[list[Article]],
    min_runs: int,
    model: CategoryModel,
    encoder: TextEncoder | None = None,
    *,
    warm: bool = False,
) -> dict[str, Any]:
    """Summaries per second, cold: no token (and, with ``encoder``, no sentence vector) cached
    from an earlier run of the same story. ``warm``: the sentence vectors are kept across runs, as
    the service keeps them when it summarises a story's next version."""
    if not sets:
        return {"stories": 0}
    runs = embedded = 0
    shared = SentenceVectors(encoder) if encoder is not None and warm else None
    if shared is not None:  # filled before the clock starts: every run finds its vectors
        for articles in sets:
            shared(prepare(articles).to_embed())
    started = time.perf_counter()
    while runs < min_runs:
        for articles in sets:
            cluster = make_story_cluster(
                story_id=f"s{runs}",
                member_ids=[a.article_id for a in articles],
                first_published_at=articles[0].published_at,
                last_published_at=articles[-1].published_at,
            )
            clear_caches()
            draft = prepare(articles)
            vectors = None
            if encoder is not None:
                cache = shared or SentenceVectors(encoder)
                before = cache.encoded
                vectors = cache(draft.to_embed())
                embedded += cache.encoded - before
            summarize(cluster, articles, model=model, prepared=draft, vectors=vectors)
            runs += 1
    elapsed = time.perf_counter() - started
    out = {"summaries_per_s": round(runs / elapsed, 1), "summaries": runs, "distinct_stories": len(sets)}
    if encoder is not None:
        out["texts_embedded_per_summary"] = round(embedded / runs, 1)
    return out


# The weights a nested run may choose from (description, learned prototype).
WEIGHT_GRID = [(d, ls) for d in (0.5, 1.0, 2.0) for ls in (0.0, 0.5, 1.0, 2.0)]

Labelled = list[tuple[list[str], Category]]


def nested_accuracy(labelled: Labelled) -> dict[str, Any]:
    """Leave-one-story-out where the combination weights too are chosen without the held-out story:
    for each held-out story, every grid point is scored by an inner leave-one-story-out over the
    other stories, and the best (ties: nearest the shipped weights) classifies the held-out one.
    This removes the optimism of weights tuned on the same stories (n² trainings: about a minute)."""
    shipped = Weights()

    def predictions(train: Labelled, texts: list[str]) -> dict[tuple[float, float], Category]:
        model = CategoryModel.train(train)
        out = {}
        for d, ls in WEIGHT_GRID:
            model.weights = dataclasses.replace(shipped, description=d, learned=ls)
            out[(d, ls)] = model.predict(texts)
        return out

    right = 0
    chosen: Counter[str] = Counter()
    for i, (texts, gold) in enumerate(labelled):
        others = labelled[:i] + labelled[i + 1 :]
        hits: Counter[tuple[float, float]] = Counter()
        for j, (inner_texts, inner_gold) in enumerate(others):
            for w, predicted in predictions(others[:j] + others[j + 1 :], inner_texts).items():
                hits[w] += correct(predicted, inner_gold)
        best = max(
            WEIGHT_GRID,
            key=lambda w: (hits[w], -abs(w[0] - shipped.description) - abs(w[1] - shipped.learned)),
        )
        chosen[f"description={best[0]},learned={best[1]}"] += 1
        right += correct(predictions(others, texts)[best], gold)
    return {
        "accuracy_nested_leave_one_story_out": round(right / len(labelled), 4),
        "weights_chosen": dict(sorted(chosen.items())),
    }


def category_accuracy(
    stories: list[list[dict[str, Any]]], labels: list[Category | None], *, nested: bool = False
) -> dict[str, Any]:
    """Story-level category accuracy. The honest figure is leave-one-story-out: each story is
    predicted by a model trained on the *other* stories only (the gold story label forms stories,
    nothing else). The same held-out models also classify small stories cut from the held-out one
    (three consecutive headlines, the size most stories have when first summarised)."""
    labelled: Labelled = [
        ([r.get("title") or "" for r in rows], label)
        for rows, label in zip(stories, labels, strict=True)
        if label is not None
    ]
    if not labelled:
        return {"stories": 0}
    bundled = bundled_model()
    descriptions = CategoryModel()
    in_sample = sum(correct(bundled.predict(texts), gold) for texts, gold in labelled)
    plain = sum(correct(descriptions.predict(texts), gold) for texts, gold in labelled)
    held_out = held_out_strict = 0
    small: list[float] = []
    misses: Counter[str] = Counter()
    for i, (texts, gold) in enumerate(labelled):
        model = CategoryModel.train(labelled[:i] + labelled[i + 1 :])
        predicted = model.predict(texts)
        held_out += correct(predicted, gold)
        held_out_strict += correct(predicted, gold, strict=True)
        if not correct(predicted, gold):
            misses[f"{gold.value}->{predicted.value}"] += 1
        windows = [
            texts[k : k + SMALL_STORY] for k in range(0, min(len(texts), 30) - SMALL_STORY + 1, SMALL_STORY)
        ]
        if windows:
            small.append(sum(correct(model.predict(w), gold) for w in windows) / len(windows))
    n = len(labelled)
    result = {
        "stories": n,
        "accuracy_leave_one_story_out": round(held_out / n, 4),
        "accuracy_leave_one_story_out_strict": round(held_out_strict / n, 4),
        "accuracy_bundled_model": round(in_sample / n, 4),
        "accuracy_descriptions_only": round(plain / n, 4),
        f"accuracy_leave_one_story_out_{SMALL_STORY}_headlines": round(sum(small) / len(small), 4)
        if small
        else None,
        "held_out_misses": dict(sorted(misses.items())),
        "note": "the bundled model was trained on this stream (in-sample); "
        "leave-one-story-out is the honest estimate; UCI's t is 'science and technology', so science "
        "counts as right on a t story (strict: t = technology only); "
        f"{SMALL_STORY}_headlines: held-out stories cut into {SMALL_STORY}-headline stories "
        "(first 30 headlines), averaged per story",
    }
    if nested:
        result.update(nested_accuracy(labelled))
    return result


async def service_throughput(
    sets: list[list[Article]], repeat: int, vectors: SentenceVectors | None = None
) -> dict[str, Any]:
    """The pipeline with its store: articles in a scratch MongoDB database, cluster events accepted,
    then flushed (read members by _id, summarise, store, clear); publishing is a no-op (no Kafka).
    With ``vectors`` the candidates are embedded as the service does (cold on the first repeat)."""
    from tellwell.common.mongo import make_mongo_client
    from tellwell.common.settings import MongoSettings
    from tellwell.summarize.pipeline import Summarizer
    from tellwell.summarize.settings import Settings

    mongo = MongoSettings()
    client = make_mongo_client(mongo)
    name = f"tellwell_bench_summarize_{int(time.time())}"
    db = client[name]
    try:
        docs = {a.article_id: a for articles in sets for a in articles}
        await db.articles.insert_many(
            [
                {
                    "_id": a.article_id,
                    "url": a.url,
                    "source": a.source,
                    "title": a.title,
                    "text": a.text,
                    "lead": a.lead,
                    "published_at": a.published_at,
                }
                for a in docs.values()
            ]
        )
        emitted: list[Any] = []

        async def publish(events: Any) -> None:
            emitted.extend(events)

        summarizer = Summarizer(db, publish, Settings(replica_id="bench", debounce_s=0.0), vectors=vectors)
        events = [
            make_story_cluster(
                story_id=f"s{r}-{k}",
                member_ids=[a.article_id for a in articles],
                first_published_at=articles[0].published_at,
                last_published_at=articles[-1].published_at,
            )
            for r in range(repeat)
            for k, articles in enumerate(sets)
        ]
        await summarizer.accept(events)
        started = time.perf_counter()
        while len(emitted) < len(events):
            if not await summarizer.flush_once():
                break
        elapsed = time.perf_counter() - started
    finally:
        await client.drop_database(name)
        await client.close()
    return {
        "summaries_per_s": round(len(emitted) / elapsed, 1) if elapsed else None,
        "summaries": len(emitted),
        "note": "article cache warm after the first story of each repeat"
        + ("; sentence vectors cold on the first repeat, then cached" if vectors is not None else ""),
    }


def bench_summarize(
    input: Annotated[
        Path, typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream (uci-head).")
    ],
    json_only: JsonOnly = False,
    min_runs: Annotated[int, typer.Option(help="Summaries per measured size.")] = 300,
    with_store: Annotated[
        bool, typer.Option("--with-store", help="Also measure the pipeline on MongoDB (MONGO_URL).")
    ] = False,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed/--no-embed",
            help="Also summarise with sentence vectors (all-MiniLM-L6-v2), as the service does.",
        ),
    ] = True,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            exists=True,
            dir_okay=False,
            help="Rated sentence pairs (JSONL: score 0-5, a, b, year): choose the embedding threshold.",
        ),
    ] = None,
    nested: Annotated[
        bool,
        typer.Option(
            "--nested", help="Also the category accuracy with weights chosen in inner folds (slow)."
        ),
    ] = False,
) -> None:
    """Extractive summaries per second (10- and 50-article stories) and story category accuracy."""
    stories, labels = read_stories(input)
    model = bundled_model()
    model.predict(["warm up"])
    encoder = default_encoder() if embed else None
    if encoder is not None:
        encoder.encode(["warm up"])  # the model loads outside the timings
    result: dict[str, Any] = {"bench": "summarize", "input": input.name, "method": "extractive-v1"}
    for size in (10, 50):
        result[f"headlines_{size}"] = throughput(story_sets(stories, size, False), min_runs, model)
        result[f"text_{size}"] = throughput(story_sets(stories, size, True), min_runs // 2, model)
    if encoder is not None:
        for kind, with_text in (("headlines", False), ("text", True)):
            sets = story_sets(stories, 10, with_text)
            result[f"{kind}_10_embedded"] = throughput(sets, max(min_runs // 10, 1), model, encoder)
        sets = story_sets(stories, 10, True)
        result["text_10_embedded_warm"] = throughput(sets, min_runs // 2, model, encoder, warm=True)
    if with_store:
        fresh = SentenceVectors(encoder) if encoder is not None else None
        result["service_text_10"] = asyncio.run(service_throughput(story_sets(stories, 10, True), 3, fresh))
    vectors = SentenceVectors(encoder) if encoder is not None else None
    members = [[to_article(row, row.get("text") or "") for row in rows] for rows in stories]
    result["redundancy"] = redundancy(members, model, vectors)
    if pairs is not None and vectors is not None:
        result["threshold"] = threshold_report(pairs, vectors)
    result["category"] = category_accuracy(stories, labels, nested=nested)
    result["measures"] = (
        "domain.summarize only (in memory: no Mongo or Kafka), one process; headlines_N: real headline-only "
        "stories of N members from gold stories; text_N: the same with each text made of five other real "
        "headlines of the story; *_embedded: the same with the candidates embedded first (cold cache, "
        "as the service summarises a story it has not seen); *_embedded_warm: every vector already "
        "cached, as for a story's next version whose sentences were all seen"
    )
    line = json.dumps(result)
    if not json_only:
        red = result["redundancy"]
        before, after = red["words_only"], red.get("with_embeddings", {})
        typer.echo(
            f"{input.name}: 10 articles {result['headlines_10'].get('summaries_per_s')}/s headlines, "
            f"{result['text_10'].get('summaries_per_s')}/s with text; 50 articles "
            f"{result['headlines_50'].get('summaries_per_s')}/s, "
            f"{result['text_50'].get('summaries_per_s')}/s; "
            f"category LOSO {result['category'].get('accuracy_leave_one_story_out')}; summary sentence "
            f"cosine mean {before.get('cosine_mean')} -> {after.get('cosine_mean')}, max "
            f"{before.get('cosine_max')} -> {after.get('cosine_max')}, share with a redundant pair "
            f"{before.get('share_with_redundant_pair')} -> {after.get('share_with_redundant_pair')} "
            "(words only -> with embeddings)",
            err=True,
        )
    typer.echo(line)
