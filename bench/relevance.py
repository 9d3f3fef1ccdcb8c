"""Judged relevance of the search: MRR and nDCG@10 of a fixed query set, through the real search API.

The judged set was written before the ranking of issue 15 was tuned, so it cannot have been fitted
to it. It runs over one database holding, in order of creation:

1. the demo corpus (``mks seed-demo``);
2. the planted entries: older, and each the best answer to some queries (title and tags say it);
3. ``FILLERS`` newer site diaries that mention every planted query's words, in the body only and
   one of them in the title, as hundreds of daily reports in a real knowledge base do;
4. the synonym sets 生コン = レディーミクストコンクリート and KY = 危険予知.

Each judged query grades the entries that should come first: 2 is the answer, 1 acceptable, any
other entry 0. Grades judge the topic only: an archived entry on it still answers (the status is a
filter people choose). A query's reciprocal rank is 1 / the rank of its first answer of the top grade.
The tests (tests/search/test_relevance.py) and ``python -m bench --only relevance`` share this set.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mks.app import create_app
from mks.config import Settings
from mks.context import service_context
from mks.db import current_db
from mks.demo import DEMO_USERS, seed_demo
from mks.demo_corpus import DEMO_ENTRIES
from mks.models import Status, User
from mks.schemas.knowledge import KnowledgeCreate
from mks.search.rebuild import reindex
from mks.services.context import Context
from mks.services.knowledge.writes import create_knowledge
from mks.services.synonyms import create_synonym_set
from mks.startup import prepare

from .config import BenchConfig
from .databases import fresh_postgres, sqlite_url
from .report import Figure, at_least
from .server import JWT_SECRET

BENCHMARK = "検索の関連度"
MRR_FLOOR = 0.9
CUTOFF = 10
SEED = 20_261_208
# More than the 500 newest matches the first search ranked, so an answer's age can no longer hide it.
FILLERS = 600
SMOKE_FILLERS = 30
SYNONYMS = (("生コン", "レディーミクストコンクリート"), ("KY", "危険予知"))


@dataclass(frozen=True)
class Judged:
    """A query and the grade of each entry (by title) that should come first."""

    q: str
    grades: Mapping[str, int]


def _planted(title: str, summary: str, tags: list[str], content: str, category: str = "品質") -> dict[str, object]:
    return {
        "title": title,
        "summary": summary,
        "content": content,
        "tags": tags,
        "category": category,
        "status": "approved",
    }


KABURI = "鉄筋のかぶり厚さ不足を防ぐ確認手順"
HAIKIN = "配筋検査のチェックリスト"
SEKOU = "施工計画書の作成手順と承認の流れ"
ASHIBA = "足場点検の手順と点検表"
KATAWAKU = "型枠解体の時期と安全な手順"
CRANE = "クレーン作業の玉掛けと合図の基準"
COMPUTER_LONG = "コンピューターによる出来形データの管理"
COMPUTER_SHORT = "現場事務所のコンピュータ更新計画"
READY_MIXED = "レディーミクストコンクリートの受入検査と記録"
NAMAKON_CAR = "生コン車の待機場所と誘導"
KIKEN_YOCHI = "危険予知活動の記録様式と保管"

PLANTED = (
    _planted(
        KABURI,
        "打設前の配筋検査で、かぶり厚さ不足を見つけて是正するための確認手順をまとめる。",
        ["鉄筋", "かぶり厚さ", "配筋検査"],
        "## 手順\n1. スペーサーの種類と間隔を図面と照合する。\n2. 最小かぶり厚さをスケールで測る。\n"
        "3. 不足箇所は打設前に是正し、写真を残す。",
    ),
    _planted(
        HAIKIN,
        "鉄筋の径・本数・間隔・かぶり厚さを検査する項目の一覧。",
        ["配筋検査", "鉄筋"],
        "配筋検査の前日までに自主検査を済ませ、検査記録を整える。",
    ),
    _planted(
        SEKOU,
        "施工計画書を作成し、発注者の承認を得るまでの流れと注意点。",
        ["施工計画", "施工計画書"],
        "工種ごとの施工計画書は着手の2週間前までに提出し、承認後に作業員へ周知する。",
        category="施工計画",
    ),
    _planted(
        ASHIBA,
        "作業開始前と悪天候後に行う足場点検の手順と、点検表の記入方法。",
        ["足場", "点検", "点検表"],
        "点検者を指名し、手すり・中さん・幅木・壁つなぎの状態を点検表に記録する。",
        category="安全",
    ),
    _planted(
        KATAWAKU,
        "型枠解体（脱型）の時期の判断と、解体作業で落下・転倒を防ぐ手順。",
        ["型枠", "解体", "脱型"],
        "所定の強度を確認してから解体し、せき板の落下範囲を立入禁止にする。",
    ),
    _planted(
        CRANE,
        "クレーン作業での玉掛けの方法、合図の統一、吊荷の下への立入禁止。",
        ["クレーン", "玉掛け", "合図"],
        "玉掛け者と合図者を定め、地切り後に一旦停止して吊荷の安定を確認する。",
        category="安全",
    ),
    _planted(
        COMPUTER_LONG,
        "コンピューターで出来形データを一元管理し、帳票を自動作成する手順。",
        ["コンピューター", "出来形管理"],
        "測点ごとの設計値と実測値を取り込み、規格値との差を自動で判定する。",
        category="出来形",
    ),
    _planted(
        COMPUTER_SHORT,
        "現場事務所のコンピュータを計画的に更新し、データを移行する手順。",
        ["コンピュータ", "事務所"],
        "更新前にバックアップを取り、移行後に図面データが開けることを確認する。",
        category="施工計画",
    ),
    _planted(
        READY_MIXED,
        "レディーミクストコンクリートの荷卸し時の受入検査の項目と記録の残し方。",
        ["レディーミクストコンクリート", "受入検査"],
        "納入書と配合計画書を照合し、試験結果を受入検査記録に残す。",
    ),
    _planted(
        NAMAKON_CAR,
        "生コン車の待機場所の確保と、場内の誘導員の配置。",
        ["生コン", "誘導"],
        "待機場所は公道を避けて場内に確保し、誘導員が後退時に合図する。",
        category="安全",
    ),
    _planted(
        KIKEN_YOCHI,
        "危険予知活動の記録様式と、記録の保管期間を定める。",
        ["危険予知", "記録様式"],
        "記録様式には作業内容・危険のポイント・対策・指差し呼称の項目を設ける。",
        category="安全",
    ),
)

# Every filler mentions all of these in its body: the words of the planted queries, in other senses.
FILLER_SENTENCES = (
    "{area}の鉄筋を確認し、かぶり厚さをスケールで測定した。",
    "施工計画に沿って{area}の工程を調整した。",
    "朝礼後に{area}の足場の点検を行った。",
    "{area}の型枠の解体は明日の予定。",
    "クレーンで資材を揚重し、玉掛けの合図を確認した。",
    "KYミーティングで当日の作業手順を共有した。",
    "生コンの到着が遅れたため{area}の打設を待機した。",
)
FILLER_NOISE = (
    "午後から雨が降り、屋外作業を一部中止した。",
    "資材置場を整理し、通路を確保した。",
    "協力会社と翌週の人員配置を打合せた。",
    "近隣から騒音の問合せがあり、作業時間を説明した。",
)
FILLER_TOPICS = ("鉄筋工事", "足場", "型枠工事", "クレーン作業", "施工", "生コン打設")
AREAS = ("A工区", "B工区", "C工区", "1階", "2階", "屋上")


def fillers(count: int, seed: int = SEED) -> Iterator[dict[str, object]]:
    """``count`` newer site diaries, the same for the same seed."""
    rng = random.Random(seed)
    for number in range(1, count + 1):
        topic = FILLER_TOPICS[number % len(FILLER_TOPICS)]
        sentences = [sentence.format(area=rng.choice(AREAS)) for sentence in FILLER_SENTENCES]
        sentences += rng.sample(FILLER_NOISE, rng.randint(1, len(FILLER_NOISE)))
        rng.shuffle(sentences)
        yield {
            "title": f"{topic} 日報 第{number}号",
            "summary": f"{rng.choice(AREAS)}の作業記録",
            "content": "\n".join(sentences),
            "tags": ["日報", topic],
            "category": "施工計画",
            "status": "approved",
        }


def _demo(index: int) -> str:
    return str(DEMO_ENTRIES[index]["title"])


DEMO_KABURI = _demo(3)
DEMO_NAMAKON = _demo(4)
DEMO_ASHIBA = _demo(12)
DEMO_KY = _demo(15)
DEMO_CRANE = _demo(16)

# Over the demo corpus: what a new user would look up first.
DEMO_JUDGED = (
    Judged("寒中コンクリート", {_demo(0): 2, _demo(2): 1}),
    Judged("加熱養生", {_demo(2): 2, _demo(0): 1}),
    Judged("熱中症", {_demo(13): 2}),
    Judged("WBGT", {_demo(13): 2}),
    Judged("クリティカルパス", {_demo(8): 2}),
    Judged("残土", {_demo(9): 2}),
    Judged("実行予算", {_demo(18): 2}),
    Judged("原価管理", {_demo(18): 2, _demo(19): 1, _demo(20): 1}),
    Judged("ドローン 出来形", {_demo(21): 2, _demo(22): 1, _demo(23): 1}),
    Judged("出来形管理", {_demo(21): 2, _demo(22): 2, _demo(23): 2, COMPUTER_LONG: 1}),
    Judged("杭 支持層", {_demo(6): 2}),
    Judged("溶接 超音波", {_demo(5): 2}),
    Judged("フルハーネス", {_demo(14): 2, _demo(17): 1}),
    Judged("墜落", {_demo(14): 2, DEMO_KY: 2, _demo(17): 2, DEMO_ASHIBA: 1}),
    Judged("スランプ", {DEMO_NAMAKON: 2, _demo(1): 1}),
    Judged("一酸化炭素", {_demo(2): 2}),
    Judged("建入れ直し", {_demo(10): 2}),
    Judged("アウトリガー", {DEMO_CRANE: 2}),
    Judged("養生 温度", {_demo(0): 2, _demo(2): 2, _demo(1): 1}),
    Judged("危険予知", {DEMO_KY: 2, KIKEN_YOCHI: 2}),
)

# Over the planted entries and the newer fillers: answers that are older than hundreds of matches,
# spelling variants (katakana for hiragana, the long-vowel mark) and synonyms.
GENERATED_JUDGED = (
    Judged("鉄筋 かぶり厚さ", {KABURI: 2, DEMO_KABURI: 2, HAIKIN: 1}),
    Judged("かぶり厚さ", {KABURI: 2, DEMO_KABURI: 2, HAIKIN: 1}),
    Judged("カブリ厚さ", {KABURI: 2, DEMO_KABURI: 2, HAIKIN: 1}),
    Judged("鉄筋 カブリ厚さ", {KABURI: 2, DEMO_KABURI: 2, HAIKIN: 1}),
    Judged("かぶり厚さ 不足", {KABURI: 2}),
    Judged("施工計画", {SEKOU: 2}),
    Judged("施工計画 承認", {SEKOU: 2}),
    Judged("足場 点検", {ASHIBA: 2, DEMO_ASHIBA: 2}),
    Judged("足場点検", {ASHIBA: 2, DEMO_ASHIBA: 1}),
    Judged("型枠 解体", {KATAWAKU: 2}),
    Judged("型枠 解体 手順", {KATAWAKU: 2}),
    Judged("クレーン 玉掛け", {CRANE: 2, DEMO_CRANE: 2}),
    Judged("玉掛け", {CRANE: 2, DEMO_CRANE: 2}),
    Judged("コンピュータ", {COMPUTER_LONG: 2, COMPUTER_SHORT: 2}),
    Judged("コンピューター", {COMPUTER_LONG: 2, COMPUTER_SHORT: 2}),
    Judged("生コン 受入検査", {DEMO_NAMAKON: 2, READY_MIXED: 2}),
    Judged("レディーミクストコンクリート 誘導", {NAMAKON_CAR: 2}),
    Judged("KY", {DEMO_KY: 2, KIKEN_YOCHI: 2}),
    Judged("KY 記録様式", {KIKEN_YOCHI: 2}),
    Judged("危険予知 記録様式", {KIKEN_YOCHI: 2}),
)
JUDGED = DEMO_JUDGED + GENERATED_JUDGED


def reciprocal_rank(ranking: Sequence[str], grades: Mapping[str, int]) -> float:
    """1 / the rank of the first entry of the query's top grade in the ranking, 0 when none is there."""
    top = max(grades.values())
    return next((1 / rank for rank, title in enumerate(ranking, start=1) if grades.get(title, 0) == top), 0.0)


def _dcg(gains: Sequence[int]) -> float:
    return sum((2.0**grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(gains[:CUTOFF], start=1))


def ndcg(ranking: Sequence[str], grades: Mapping[str, int]) -> float:
    """nDCG@10 with exponential gain (2**grade - 1): the ranking's DCG over the best possible one's."""
    ideal = _dcg(sorted(grades.values(), reverse=True))
    return _dcg([grades.get(title, 0) for title in ranking]) / ideal


@dataclass(frozen=True)
class Scores:
    """Per query (q, reciprocal rank, nDCG@10), and their means over the set."""

    per_query: tuple[tuple[str, float, float], ...]

    @property
    def mrr(self) -> float:
        return sum(rr for _, rr, _ in self.per_query) / len(self.per_query)

    @property
    def ndcg(self) -> float:
        return sum(value for _, _, value in self.per_query) / len(self.per_query)

    def misses(self) -> list[str]:
        """The queries whose answer did not come first, for a failure message."""
        return [f"{q} (RR {rr:.2f})" for q, rr, _ in self.per_query if rr < 1]


def score(ask: Callable[[str], list[str]], judged: Sequence[Judged] = JUDGED) -> Scores:
    """Ask every judged query (``ask`` answers the titles of the first page, best first) and score the answers."""
    per_query = []
    for query in judged:
        ranking = ask(query.q)
        per_query.append((query.q, reciprocal_rank(ranking, query.grades), ndcg(ranking, query.grades)))
    return Scores(tuple(per_query))


def load(ctx: Context, filler_count: int = FILLERS) -> None:
    """The demo corpus, then the planted answers, then the newer fillers and the synonym sets, in that order.

    The entries are written by the demo editor (yamada), created by seed_demo when missing.
    """
    seed_demo(ctx)
    author = ctx.session.scalars(select(User).where(User.username == "yamada")).one()
    for entry in (*PLANTED, *fillers(filler_count)):
        fields = dict(entry)
        status = Status(str(fields.pop("status")))
        create_knowledge(ctx, KnowledgeCreate.model_validate(fields), author, status=status)
    for words in SYNONYMS:
        create_synonym_set(ctx, words, None)


def learn_words() -> None:
    """Rebuild the index as ``mks search reindex`` does, which learns the indexed words (mks/search/words.py)."""
    database = current_db()
    with database.engine.begin() as connection:
        reindex(connection, database.search, lambda _done, _total: None)


def asker(client: FlaskClient, headers: dict[str, str]) -> Callable[[str], list[str]]:
    """Titles of the first page the search API answers for a query, as the given user."""

    def ask(q: str) -> list[str]:
        response = client.get("/api/v1/knowledge/search", query_string={"q": q, "limit": CUTOFF}, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"search {q!r}: {response.status_code} {response.get_data(as_text=True)}")
        return [item["title"] for item in response.json["items"]]  # type: ignore[index]

    return ask


def _measure(database_url: str, instance: Path, filler_count: int) -> Scores:
    settings = Settings(
        env="testing",  # type: ignore[arg-type]
        database_url=database_url,
        instance_path=instance,
        jwt_secret_key=JWT_SECRET,
        demo_data=False,
        metrics_enabled=False,
        ratelimit_search="100000 per minute",
        ratelimit_default="100000 per minute",
    )
    prepare(settings)
    app: Flask = create_app(settings)
    try:
        with app.app_context():
            load(service_context(), filler_count)
            learn_words()
        client = app.test_client()
        admin = next(user for user in DEMO_USERS if user["role"] == "admin")
        login = client.post("/api/v1/auth/login", json={"username": admin["username"], "password": admin["password"]})
        headers = {"Authorization": f"Bearer {login.json['access_token']}"}  # type: ignore[index]
        return score(asker(client, headers))
    finally:
        app.extensions["mks_db"].engine.dispose()


def run(config: BenchConfig) -> list[Figure]:
    """MRR and nDCG@10 of the judged set on SQLite and on PostgreSQL."""
    filler_count = SMOKE_FILLERS if config.smoke else FILLERS
    figures = []
    for dialect, database in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        instance = config.work_dir / f"relevance-{dialect}"
        if dialect == "sqlite":
            scores = _measure(sqlite_url(config.work_dir / "relevance.sqlite3"), instance, filler_count)
        else:
            with fresh_postgres(config.postgres_url, "mks_bench_relevance") as url:
                scores = _measure(url, instance, filler_count)
        detail = f"{len(scores.per_query)} 件の判定済みクエリ、日報 {filler_count:,} 件"
        misses = scores.misses()
        figures += [
            Figure(BENCHMARK, f"{database} MRR", scores.mrr, "", at_least(MRR_FLOOR), detail),
            Figure(
                BENCHMARK,
                f"{database} nDCG@10",
                scores.ndcg,
                "",
                None,
                "1 位が答えでないクエリ: " + ("、".join(misses) if misses else "なし"),
            ),
        ]
    return figures
