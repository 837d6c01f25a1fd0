"""The plot language: titles, axis labels and legends in English or 简体中文 (terms as in
docs/glossary.md), with a CJK font for Chinese, and durations a human reads."""

from __future__ import annotations

from pathlib import Path

import matplotlib

CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei"]
_LANG = {"value": "en"}
# plot labels in 简体中文 (terms as in docs/glossary.md); the English text is the key
ZH: dict[str, str] = {
    "link down": "链路断开",
    "reconnected": "链路恢复",
    "requests per second (1/s)": "每秒请求数 (1/s)",
    "latency (ms, log scale)": "延迟（毫秒，对数坐标）",
    "time since start (s)": "开始后的时间（秒）",
    "edge state": "边缘状态",
    "online": "在线",
    "offline": "离线",
    "unknown": "未知",
    "answered (2xx/304)": "已应答（2xx/304）",
    "queued in the outbox (202)": "进入发件箱（202）",
    "refused by the edge (503 not cached / 507 outbox full)":
        "边缘拒绝（503 未缓存 / 507 发件箱满）",
    "error (other 4xx/5xx)": "错误（其他 4xx/5xx）",
    "timeout": "超时",
    "connection refused or reset": "连接被拒绝或重置",
    "edge offline after {d}": "{d} 后边缘离线",
    "outbox empty {d} after reconnect": "恢复后 {d} 发件箱排空",
    "Requests during a WAN outage": "广域网断网期间的请求",
    "With edge caches: link down {d} ({mode})": "有边缘缓存：链路断开 {d}（{mode}）",
    "No cache: clients straight to the cloud through the same link":
        "无缓存：客户端经同一链路直连云端",
    "Outbox depth: writes queued at the edge": "发件箱深度：边缘排队的写入",
    "queued writes (count)": "排队的写入（条）",
    "Latency by cache status": "按缓存状态的延迟",
    "Latency by cache status (with edge caches)": "按缓存状态的延迟（有边缘缓存）",
    "fraction of requests ≤ latency": "延迟不超过该值的请求比例",
    "Hit ratio vs cache size, TTL {d} (measured; Che approximation for LRU dashed)":
        "命中率与缓存大小，TTL {d}（实测；虚线为 LRU 的 Che 近似）",
    "Hit ratio vs cache size (measured; Che approximation for LRU dashed)":
        "命中率与缓存大小（实测；虚线为 LRU 的 Che 近似）",
    "cache size (entries, log scale; catalogue of {n})":
        "缓存大小（条目，对数坐标；目录共 {n} 种）",
    "hit ratio (fraction of requests)": "命中率（请求比例）",
    "Che's approximation for LRU under Zipf(s) (dots: sizes we will measure)":
        "Zipf(s) 下 LRU 的 Che 近似（圆点：将要测量的缓存大小）",
    "measured": "实测",
    "Che (LRU)": "Che（LRU）",
    "Latency through the edge cache vs directly to the cloud": "经边缘缓存与直连云端的延迟",
    "added one-way WAN latency (ms)": "增加的单向广域网延迟（毫秒）",
    "request latency (ms, log scale)": "请求延迟（毫秒，对数坐标）",
    "2 × one-way WAN latency (one RTT)": "2 × 单向广域网延迟（一次往返）",
    "median": "中位数",
    "drain deadline": "排空期限",
    "LRU replay band": "LRU 重放范围",
    "exact LRU replay": "精确 LRU 重放",
    "round trip (ms, log scale)": "往返时间（毫秒，对数坐标）",
    "Health request round trip per part": "各部分健康请求的往返时间",
    "Browsing through the edge: MISS, then served from the cache":
        "经边缘浏览：先 MISS，之后由缓存应答",
    "cloud over the WAN (no cache)": "经广域网访问云端（无缓存）",
    "edge": "边缘",
    "direct": "直连",
}


def set_language(lang: str) -> None:
    """Titles, axis labels and legends in ``lang`` (``en`` or ``zh-CN``) from now on; zh-CN
    uses a CJK font (Debian: fonts-noto-cjk) when one is installed."""
    _LANG["value"] = lang
    if lang == "zh-CN":
        from matplotlib import font_manager

        installed = {f.name for f in font_manager.fontManager.ttflist}
        if not any(f in installed for f in CJK_FONTS):
            # installed after matplotlib cached its font list: add the files themselves
            for path in font_manager.findSystemFonts():
                if "CJK" in Path(path).name and "Regular" in Path(path).name:
                    font_manager.fontManager.addfont(path)
            installed = {f.name for f in font_manager.fontManager.ttflist}
        chosen = [f for f in CJK_FONTS if f in installed]
        matplotlib.rcParams["font.sans-serif"] = [*chosen, "DejaVu Sans"]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False


def tr(text: str, **values: object) -> str:
    """``text`` in the current plot language, with ``{placeholders}`` filled in."""
    chosen = ZH.get(text, text) if _LANG["value"] == "zh-CN" else text
    return chosen.format(**values) if values else chosen


def human_duration(seconds: float) -> str:
    """``31536000`` → ``1 year``, ``300`` → ``5 min``, ``0.19`` → ``0.19 s`` (zh: 年/分钟/秒)."""
    zh = _LANG["value"] == "zh-CN"
    units = [
        (365 * 86400, "year", "年"),
        (7 * 86400, "week", "周"),
        (86400, "day", "天"),
        (3600, "h", "小时"),
        (60, "min", "分钟"),
    ]
    s = float(seconds)
    for size, en, cn in units:
        if abs(s) >= size:
            n = s / size
            text = f"{n:.0f}" if abs(n - round(n)) < 0.05 else f"{n:.1f}"
            if zh:
                return f"{text} {cn}"
            plural = "s" if en in ("year", "week", "day") and text != "1" else ""
            return f"{text} {en}{plural}"
    text = f"{s:.0f}" if abs(s) >= 10 or s == int(s) else f"{s:.2g}"
    return f"{text} 秒" if zh else f"{text} s"
