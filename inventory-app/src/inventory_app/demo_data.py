"""A deterministic demo data set (seeded RNG), posted through the services so the ledger is real.

~300 products in a two-level category tree, CENTRAL + SHOP-1..3, suppliers, customers,
users admin/clerk/viewer (password = user name; demo only), one device token per shop and
three weeks of purchases, transfers, sales, returns and stocktakes.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory_app.models import Product, User
from inventory_app.schemas import DocumentIn, DocumentLineIn
from inventory_app.services import auth, documents, masters

CATALOG: dict[str, dict[str, list[str]]] = {
    "Beverages 饮料": {
        "Tea 茶饮": ["Green Tea", "Jasmine Tea", "Oolong Tea", "Black Tea", "Lemon Tea"],
        "Water 饮用水": ["Mineral Water", "Spring Water", "Sparkling Water"],
        "Soft drinks 汽水": ["Cola", "Orange Soda", "Lemon Soda", "Ginger Ale"],
        "Coffee 咖啡": ["Instant Coffee", "Canned Latte", "Cold Brew"],
    },
    "Snacks 零食": {
        "Biscuits 饼干": ["Cream Crackers", "Digestive Biscuits", "Egg Rolls", "Wafers"],
        "Chips 薯片": ["Potato Chips", "Prawn Crackers", "Corn Chips"],
        "Nuts 坚果": ["Roasted Peanuts", "Cashews", "Sunflower Seeds", "Walnuts"],
        "Candy 糖果": ["Milk Candy", "Fruit Drops", "Chocolate Bar"],
    },
    "Dairy 乳制品": {
        "Milk 牛奶": ["Whole Milk", "Skim Milk", "Soy Milk"],
        "Yogurt 酸奶": ["Plain Yogurt", "Strawberry Yogurt", "Drinking Yogurt"],
    },
    "Grocery 粮油": {
        "Rice & noodles 米面": ["Jasmine Rice", "Instant Noodles", "Rice Noodles", "Dumplings"],
        "Oil & sauces 油和调味": ["Soy Sauce", "Vinegar", "Peanut Oil", "Chili Sauce"],
    },
    "Household 日用品": {
        "Cleaning 清洁": ["Dish Soap", "Laundry Powder", "Floor Cleaner"],
        "Paper 纸品": ["Tissue Pack", "Kitchen Towel", "Toilet Roll"],
    },
    "Personal care 个人护理": {
        "Oral care 口腔": ["Toothpaste", "Toothbrush", "Mouthwash"],
        "Hair & body 洗护": ["Shampoo", "Shower Gel", "Hand Soap"],
    },
    "Stationery 文具": {
        "Writing 书写": ["Gel Pen", "Pencil", "Marker"],
        "Paper goods 本册": ["Notebook", "Sticky Notes"],
    },
}
BRANDS = ["Golden Harvest", "Blue River", "Panda", "Lotus", "East Wind", "Red Lantern",
          "Jade Hill", "Sunrise", "Bamboo Grove", "Silver Crane"]
SIZES = ["small", "regular", "large", "family pack", "6-pack", "12-pack"]
SUPPLIERS = ["Huadong Foods Co.", "Pearl River Trading", "Northern Dairy Ltd.",
             "Shenzhen Daily Goods", "Yangtze Beverage Group", "Golden Grain Supply"]
CUSTOMERS = ["Walk-in customer", "Li Wei", "Zhang Min", "Wang Fang", "Chen Jie", "Liu Yang",
             "Campus canteen", "Sunrise Hotel", "Harbour Cafe", "City Library"]
SHOPS = [("SHOP-1", "Shop 1 (Riverside)"), ("SHOP-2", "Shop 2 (Station)"),
         ("SHOP-3", "Shop 3 (Campus)")]


@dataclass
class DemoResult:
    products: int = 0
    documents: int = 0
    device_tokens: dict[str, str] = field(default_factory=dict)
    admin_token: str = ""


def already_seeded(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.username == "admin")) is not None


def seed(
    session: Session,
    *,
    seed_value: int = 42,
    days: int = 21,
    product_count: int = 300,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Create the demo data set inside the caller's write transaction."""
    rng = random.Random(seed_value)
    result = DemoResult()
    now = now or dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    for name in ("admin", "clerk", "viewer"):
        auth.create_user(session, name, name, name)
    central = masters.create_warehouse(session, "CENTRAL", "Central warehouse 中心仓", "central")
    shops = [masters.create_warehouse(session, code, name, "edge") for code, name in SHOPS]
    suppliers = [
        masters.create_partner(session, "supplier", n, f"sales@{i}.example", f"021-5550{i:03d}")
        for i, n in enumerate(SUPPLIERS)
    ]
    customers = [masters.create_partner(session, "customer", n) for n in CUSTOMERS]
    leaf_categories = []
    for top, subs in CATALOG.items():
        parent = masters.create_category(session, top)
        for sub, items in subs.items():
            leaf_categories.append((masters.create_category(session, sub, parent.id), items))
    # products: cycle through (category, item) pairs with brands and sizes
    pairs = [(cat, item) for cat, items in leaf_categories for item in items]
    products: list[Product] = []
    combos = [(b, s) for b in BRANDS for s in SIZES]
    rng.shuffle(combos)
    i = 0
    while len(products) < product_count:
        cat, item = pairs[i % len(pairs)]
        brand, size = combos[(i // len(pairs)) % len(combos)]
        cost = round(rng.uniform(1.5, 60.0), 2)
        products.append(masters.create_product(
            session,
            sku=f"SKU-{len(products) + 1:05d}",
            barcode=f"69{rng.randrange(10**10, 10**11):011d}",
            name=f"{brand} {item} ({size})",
            spec=size,
            unit="pcs",
            category_id=cat.id,
            purchase_price=cost,
            sale_price=round(cost * rng.uniform(1.2, 1.8), 2),
        ))
        i += 1
    result.products = len(products)
    popular = products[: product_count // 3]
    for shop in shops:
        for prod in rng.sample(products, k=min(60, len(products))):
            low = rng.randint(3, 10)
            masters.set_stock_policy(session, prod.id, shop.id, low, low * 4)
    balances: dict[tuple[int, int], int] = {}

    def post(doc_type: str, wh: int, lines: list[tuple[int, int]], when: dt.datetime,
             **extra: object) -> None:
        body = DocumentIn(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            type=doc_type,
            warehouse_id=wh,
            occurred_at=when,
            lines=[DocumentLineIn(product_id=p, qty=q) for p, q in lines],
            **extra,
        )
        documents.create_document(session, body)
        result.documents += 1
        sign = documents.SIGN.get(doc_type, 0)
        for p, q in lines:
            if doc_type == "transfer":
                balances[(wh, p)] = balances.get((wh, p), 0) - q
                to = int(extra["to_warehouse_id"])  # type: ignore[call-overload]
                balances[(to, p)] = balances.get((to, p), 0) + q
            else:
                balances[(wh, p)] = balances.get((wh, p), 0) + sign * q

    start = now - dt.timedelta(days=days)
    # opening stock at the central warehouse
    for chunk in range(0, len(products), 50):
        lines = [(p.id, rng.randint(80, 200)) for p in products[chunk: chunk + 50]]
        post("purchase_receipt", central.id, lines, start,
             partner_id=rng.choice(suppliers).id)
    for day in range(days):
        when = start + dt.timedelta(days=day, hours=9)
        # transfers central → shops
        for shop in shops:
            picks = rng.sample(products, k=12)
            lines = []
            for p in picks:
                have = balances.get((central.id, p.id), 0)
                if have > 10:
                    lines.append((p.id, rng.randint(5, min(30, have // 2))))
            if lines:
                post("transfer", central.id, lines, when, to_warehouse_id=shop.id)
        # sales at shops
        for shop in shops:
            for n in range(rng.randint(3, 6)):
                picks = rng.sample(popular, k=rng.randint(1, 4))
                lines = []
                for p in picks:
                    have = balances.get((shop.id, p.id), 0)
                    if have > 0:
                        lines.append((p.id, rng.randint(1, min(5, have))))
                if lines:
                    post("sales_issue", shop.id, lines, when + dt.timedelta(hours=1 + n),
                         partner_id=rng.choice(customers).id)
        # restock central twice a week, sometimes a supplier return
        if day % 3 == 0:
            picks = rng.sample(products, k=25)
            post("purchase_receipt", central.id, [(p.id, rng.randint(20, 80)) for p in picks],
                 when, partner_id=rng.choice(suppliers).id)
        if day % 7 == 3:
            p = rng.choice(products)
            if balances.get((central.id, p.id), 0) > 5:
                post("purchase_return", central.id, [(p.id, 2)], when,
                     partner_id=rng.choice(suppliers).id)
        if day % 5 == 2:
            shop = rng.choice(shops)
            p = rng.choice(popular)
            post("sales_return", shop.id, [(p.id, 1)], when + dt.timedelta(hours=8),
                 partner_id=customers[0].id)
        if day % 7 == 6:
            shop = rng.choice(shops)
            p = rng.choice(products)
            if balances.get((shop.id, p.id), 0) > 0:
                post("other_out", shop.id, [(p.id, 1)], when, reason="damaged in store")
        if progress:
            progress(day)
    # one weekly stocktake per shop (counted − expected posted as difference)
    for shop in shops:
        picks = rng.sample(popular, k=8)
        lines_st = []
        for p in picks:
            expected = balances.get((shop.id, p.id), 0)
            counted = max(expected + rng.choice([-1, 0, 0, 0, 1]), 0)
            lines_st.append(DocumentLineIn(product_id=p.id, counted_qty=counted,
                                           expected_qty=expected))
            balances[(shop.id, p.id)] = counted
        documents.create_document(session, DocumentIn(
            id=uuid.UUID(int=rng.getrandbits(128), version=4), type="stocktake",
            warehouse_id=shop.id, occurred_at=now - dt.timedelta(hours=2), lines=lines_st))
        result.documents += 1
    for shop in shops:
        result.device_tokens[shop.code] = auth.create_token(
            session, role="device", name=f"edge-{shop.code.lower()}", warehouse_id=shop.id)
    result.admin_token = auth.create_token(session, role="admin", name="demo-admin")
    session.flush()
    return result
