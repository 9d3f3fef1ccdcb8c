"""The words of the generated corpus: Japanese construction terms, and the query terms measured.

Several thousand distinct terms are made by compounding parts the way site documents do
(部材＋作業: 鉄筋検査, 作業＋書類: 打設計画書, 条件＋作業: 冬期養生). Their order of frequency is
fixed: the designated common terms lead, the rest follow in a seeded shuffle.
"""

from __future__ import annotations

import random

# 部材・材料・設備・環境: what work is done on.
MEMBERS = (
    "鉄筋",
    "型枠",
    "生コンクリート",
    "コンクリート",
    "鉄骨",
    "足場",
    "支保工",
    "山留め",
    "杭",
    "基礎",
    "土間",
    "スラブ",
    "梁",
    "柱",
    "耐力壁",
    "床版",
    "屋根",
    "外壁",
    "防水層",
    "断熱材",
    "給水管",
    "排水管",
    "電線管",
    "ダクト",
    "開口部",
    "建具",
    "サッシ",
    "天井",
    "階段",
    "手すり",
    "擁壁",
    "法面",
    "盛土",
    "切土",
    "埋戻し土",
    "砕石",
    "路盤",
    "アスファルト舗装",
    "側溝",
    "集水桝",
    "マンホール",
    "仮設電源",
    "仮囲い",
    "揚重機",
    "クレーン",
    "バックホウ",
    "ダンプトラック",
    "高所作業車",
    "溶接機",
    "発電機",
    "排水ポンプ",
    "防護ネット",
    "親綱",
    "安全帯",
    "墨出し",
    "伸縮目地",
    "シーリング",
    "タイル",
    "モルタル",
    "塗膜",
    "石膏ボード",
    "鉄筋継手",
    "ガス圧接",
    "高力ボルト",
    "アンカーボルト",
    "スペーサー",
    "かぶり厚さ",
    "スランプ",
    "空気量",
    "塩化物量",
    "圧縮強度",
    "地耐力",
    "地下水",
    "湧水",
    "騒音",
    "振動",
    "粉じん",
    "産業廃棄物",
    "石綿",
    "養生シート",
)
# 作業・行為: what is done.
ACTIONS = (
    "打設",
    "養生",
    "締固め",
    "配筋",
    "組立",
    "解体",
    "撤去",
    "設置",
    "点検",
    "検査",
    "確認",
    "測定",
    "試験",
    "補修",
    "清掃",
    "搬入",
    "搬出",
    "計画",
    "管理",
    "施工",
    "調整",
    "手配",
    "承認",
    "記録",
    "報告",
    "是正",
    "教育",
    "巡回",
    "立会い",
    "受入れ",
    "切断",
    "溶接",
    "塗装",
    "削孔",
    "注入",
    "吊り込み",
    "建入れ",
    "据付け",
    "掘削",
    "転圧",
    "散水",
    "保管",
    "運搬",
    "仮置き",
    "復旧",
    "診断",
    "改修",
    "補強",
    "洗浄",
    "乾燥",
    "玉掛け",
)
# 書類・観点: what is written or judged about it.
ASPECTS = (
    "計画書",
    "要領書",
    "手順",
    "基準",
    "記録",
    "報告書",
    "チェックリスト",
    "注意点",
    "不具合",
    "対策",
    "時期",
    "方法",
    "条件",
    "期間",
    "範囲",
    "数量",
    "精度",
    "許容値",
    "写真",
    "台帳",
)
# 条件: when and where.
CONDITIONS = (
    "冬期",
    "夏期",
    "夜間",
    "雨天時",
    "強風時",
    "高所",
    "地下",
    "狭所",
    "仮設",
    "本設",
    "一次",
    "二次",
    "標準",
    "特殊",
    "大型",
    "小規模",
    "既設",
    "新設",
    "隣接地",
    "緊急",
    "定期",
    "日常",
    "月例",
    "最終",
    "中間",
    "事前",
    "着工前",
    "竣工前",
    "休工明け",
    "早朝",
)

# The query set: per length class a common term (in ≥ 30 % of entries) and a rare one (< 0.1 %).
# Common terms lead the frequency order; rare terms are written only into a fixed ~0.05 % of
# entries, and use characters no other term has, so nothing else matches them.
COMMON_TERM_1 = "杭"
COMMON_TERM_2 = "養生"
COMMON_TERM_3 = "施工計画"
COMMON_TERM_5 = "コンクリート"
RARE_TERM_1 = "鑿"
RARE_TERM_2 = "鏝絵"
RARE_TERM_3 = "鋲打機"
RARE_TERM_5 = "煉瓦造耐震補強"
RARE_TERMS = (RARE_TERM_1, RARE_TERM_2, RARE_TERM_3, RARE_TERM_5)
NO_MATCH_TERM_2 = "暗渠"
NO_MATCH_TERM = "量子暗号通信"
# The words people combine in one query (鉄筋 かぶり厚さ, 足場 点検, 型枠 解体, クレーン 玉掛け,
# コンクリート 打設 養生, 養生 生コン スランプ) lead too, so that each such pair or triple is itself common.
# 生コン is typed for 生コンクリート, which it matches as written.
LEADING_TERMS = (
    COMMON_TERM_5,
    "確認",
    COMMON_TERM_2,
    "鉄筋",
    COMMON_TERM_3,
    "検査",
    "安全帯",
    "型枠",
    COMMON_TERM_1,
    "かぶり厚さ",
    "打設",
    "足場",
    "点検",
    "生コンクリート",
    "スランプ",
    "解体",
    "クレーン",
    "玉掛け",
)
# One entry in RARE_PERIOD carries the rare terms.
RARE_PERIOD = 2_003


def ranked_terms(seed: int) -> list[str]:
    """Every distinct term, most frequent first."""
    compounds = [member + action for member in MEMBERS for action in ACTIONS]
    compounds += [action + aspect for action in ACTIONS for aspect in ASPECTS]
    compounds += [condition + action for condition in CONDITIONS for action in ACTIONS]
    compounds += [*MEMBERS, *ACTIONS, *ASPECTS]
    rest = sorted(set(compounds) - set(LEADING_TERMS))
    random.Random(seed).shuffle(rest)
    return [*LEADING_TERMS, *rest]
