"""Small event logs for the prepare tests: the synthetic world in two files, and one file per
public-dataset adapter in that dataset's own layout (with a few bad and ignored rows)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from trainer.synth import SynthConfig, generate

# query and shop tokens too, every query kept: the corpus holds every kind of entity token
ENTITIES = {"entities": {"kinds": ["query", "category", "shop"], "min_count": {"query": 1}}}


def synthetic(folder: Path) -> str:
    """The synthetic world with impressions, shops and queries, in time order, as two Parquet
    files: a glob, row numbers per file, ids first seen in either."""
    config = SynthConfig(users=120, items=240, categories=8, listing_size=4, shops=6,
                         search_rate=0.3, seed=3)  # fmt: skip
    table = generate(config)
    table = table.take(pc.sort_indices(table, [("timestamp", "ascending")]))
    half = table.num_rows // 2
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.slice(0, half), folder / "events-1.parquet")
    pq.write_table(table.slice(half), folder / "events-2.parquet")
    return str(folder / "events-*.parquet")


def _rows(seed: int) -> list[dict[str, object]]:
    table = generate(SynthConfig(users=40, items=80, categories=6, seed=seed))
    return table.take(pc.sort_indices(table, [("timestamp", "ascending")])).to_pylist()


def _write(path: Path, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


def taobao(folder: Path) -> str:
    """UserBehavior.csv: headerless, pv/fav/cart/buy, one bad time stamp, one short line."""
    names = {"view": "pv", "favorite": "fav", "cart": "cart", "purchase": "buy"}
    lines = [
        f"{r['user_id']},{r['item_id']},{r['category_id']},{names[str(r['interaction'])]},"
        f"{r['timestamp']}"
        for r in _rows(11)
    ]
    lines[5:5] = ["u1,i1,c1,pv,yesterday", "u1,i1"]
    return _write(folder / "UserBehavior.csv.gz", lines)


def rees46(folder: Path) -> str:
    """2019-Oct.csv: ISO times with " UTC", the log's own sessions, remove_from_cart ignored."""
    lines = ["event_time,event_type,product_id,category_id,user_id,user_session"]
    for i, r in enumerate(_rows(12)):
        ts = int(r["timestamp"])  # type: ignore[call-overload]
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        kind = {"favorite": "view"}.get(str(r["interaction"]), str(r["interaction"]))
        session = f"{r['user_id']}-{ts // 7200}"
        lines.append(f"{when},{kind},{r['item_id']},{r['category_id']},{r['user_id']},{session}")
        if i % 17 == 0:
            lines.append(f"{when},remove_from_cart,{r['item_id']},,{r['user_id']},{session}")
    lines.append("2019-10-01 00:00:00 UTC,like,p1,c1,u1,s1")
    return _write(folder / "2019-Oct.csv", lines)


def tmall(folder: Path) -> str:
    """user_log_format1.csv: day-only stamps, seller as shop, numeric action types."""
    codes = {"view": 0, "cart": 1, "purchase": 2, "favorite": 3}
    lines = ["user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type"]
    for r in _rows(13):
        stamp = datetime.fromtimestamp(int(r["timestamp"]), UTC)  # type: ignore[call-overload]
        shop = int(str(r["item_id"])[1:]) % 5
        lines.append(
            f"{r['user_id']},{r['item_id']},{r['category_id']},s{shop},b1,"
            f"{stamp:%m%d},{codes[str(r['interaction'])]}"
        )
    lines.append("u1,i1,c1,s1,b1,1340,0")  # 40 December
    return _write(folder / "user_log_format1.csv", lines)


def retailrocket(folder: Path) -> str:
    """events.csv: millisecond stamps, visitorid/itemid, addtocart/transaction."""
    names = {"view": "view", "favorite": "view", "cart": "addtocart", "purchase": "transaction"}
    lines = ["timestamp,visitorid,event,itemid,transactionid"]
    for r in _rows(14):
        ms = int(r["timestamp"]) * 1000 + 123  # type: ignore[call-overload]
        lines.append(f"{ms},{r['user_id']},{names[str(r['interaction'])]},{r['item_id']},")
    lines.append(",v1,view,i1,")
    return _write(folder / "events.csv", lines)


ADAPTER_LOGS = {"taobao": taobao, "rees46": rees46, "tmall": tmall, "retailrocket": retailrocket}
