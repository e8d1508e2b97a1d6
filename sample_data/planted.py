"""Constants that define the structure planted in the synthetic content platform.

Everything a later feature should rediscover lives here, so the generator,
`planted.json` and the tests all read the same numbers.
"""

from __future__ import annotations

import datetime as dt

from sample_data.vocabulary import TOPICS

START = dt.date(2025, 1, 1)
END = dt.date(2025, 12, 31)
N_DAYS = (END - START).days + 1

TOPIC_NAMES: list[str] = list(TOPICS)
CONTENT_TYPES: list[str] = ["article", "video", "offer", "product"]
DEVICES: list[str] = ["mobile", "desktop", "tablet", "tv"]
CHANNELS: list[str] = ["web", "app", "email", "social", "search"]
EVENT_TYPES: list[str] = ["view", "click", "add_to_cart", "purchase"]

# Global appetite per topic; Gaming is niche for everyone but the underserved group.
TOPIC_BASE: dict[str, float] = {
    "Outdoor": 1.0, "Fitness": 1.0, "Cooking": 1.2, "Travel": 1.0, "Tech": 1.3,
    "Finance": 0.8, "Fashion": 1.1, "Home": 1.0, "Beauty": 0.8, "Gaming": 0.1,
}
# Catalog size follows demand only loosely; the niche topic has a long shelf of
# rarely seen items, which spreads its few events thinly.
CATALOG_TOPIC_SHARE: dict[str, float] = {t: w ** 0.5 for t, w in TOPIC_BASE.items()}
CATALOG_TOPIC_SHARE["Gaming"] = 0.8
CATALOG_TYPE_SHARE: list[float] = [0.36, 0.24, 0.16, 0.24]
TYPE_BASE_WEIGHT: list[float] = [1.0, 0.9, 0.5, 0.7]

ZIPF_EXPONENT = 1.1
# Flat popularity inside the niche topic keeps its items out of the global head.
ZIPF_EXPONENT_BY_TOPIC: dict[str, float] = {"Gaming": 0.3}

AGE_GROUPS: list[str] = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
AGE_SHARE: list[float] = [0.14, 0.24, 0.21, 0.17, 0.14, 0.10]
AGE_TOPIC_BOOST = 3.0
AGE_TOPICS: dict[str, list[str]] = {
    "18-24": ["Fashion", "Beauty"],
    "25-34": ["Fitness", "Tech"],
    "35-44": ["Home", "Cooking"],
    "45-54": ["Finance", "Travel"],
    "55-64": ["Outdoor", "Cooking"],
    "65+": ["Home", "Finance"],
}

COUNTRIES: list[str] = ["United States", "United Kingdom", "Germany", "France", "Spain",
                        "Italy", "Netherlands", "Canada", "Australia", "Japan"]
COUNTRY_SHARE: list[float] = [0.24, 0.16, 0.12, 0.10, 0.07, 0.07, 0.05, 0.07, 0.07, 0.05]
COUNTRY_TOPIC_BOOST = 1.8
COUNTRY_TOPICS: dict[str, list[str]] = {
    "United States": ["Tech"], "United Kingdom": ["Cooking"], "Germany": ["Outdoor"],
    "France": ["Fashion"], "Spain": ["Travel"], "Italy": ["Cooking"],
    "Netherlands": ["Home"], "Canada": ["Outdoor"], "Australia": ["Fitness"],
    "Japan": ["Gaming"],
}

UNDERSERVED = {"column": "country", "value": "Japan", "favourite_topic": "Gaming",
               "topic_boost": 250.0}

GENDERS: list[str] = ["female", "male", "non-binary"]
GENDER_SHARE: list[float] = [0.49, 0.47, 0.04]

LOYALTY_TIERS: list[str] = ["bronze", "silver", "gold", "platinum"]
LOYALTY_SHARE: list[float] = [0.50, 0.28, 0.15, 0.07]
LOYALTY_ACTIVITY: list[float] = [1.0, 1.3, 1.8, 2.5]
# Per tier multipliers on (article, video, offer, product) and on purchase funnel steps.
LOYALTY_TYPE_MULT: list[list[float]] = [[1, 1, 1, 1], [1, 1, 1.2, 1.1],
                                        [1, 1, 1.5, 1.3], [1, 1, 2.0, 1.5]]
LOYALTY_BUY_MULT: list[float] = [1.0, 1.05, 1.15, 1.3]

PERSONAL_TASTE_SIGMA = 0.8

# Hour-of-day volume (UTC): morning commute, lunch and evening peaks.
HOUR_WEIGHTS: list[float] = [0.6, 0.35, 0.2, 0.15, 0.15, 0.3, 0.9, 1.8, 2.4, 2.0, 1.6, 1.7,
                             2.3, 2.2, 1.5, 1.4, 1.5, 1.8, 2.4, 3.0, 3.3, 3.0, 2.2, 1.2]
HOUR_BUCKETS: dict[str, list[int]] = {
    "night": [0, 1, 2, 3, 4, 5], "morning": [6, 7, 8, 9, 10], "midday": [11, 12, 13, 14],
    "afternoon": [15, 16, 17], "evening": [18, 19, 20, 21, 22, 23],
}
# Device of a session that is not on the customer's preferred device, by hour bucket.
DEVICE_BY_BUCKET: dict[str, list[float]] = {
    "night": [0.60, 0.10, 0.15, 0.15], "morning": [0.40, 0.45, 0.10, 0.05],
    "midday": [0.45, 0.40, 0.10, 0.05], "afternoon": [0.45, 0.35, 0.12, 0.08],
    "evening": [0.45, 0.12, 0.18, 0.25],
}
PREFERRED_DEVICE_PROB = 0.55
CHANNEL_BY_DEVICE: dict[str, list[float]] = {
    "mobile": [0.20, 0.40, 0.12, 0.20, 0.08], "desktop": [0.45, 0.02, 0.15, 0.08, 0.30],
    "tablet": [0.30, 0.35, 0.12, 0.13, 0.10], "tv": [0.05, 0.90, 0.01, 0.02, 0.02],
}
MIDDAY_EMAIL_MULT = 3.0

# Content-type multipliers by context: (rule name, content type, devices, hours, channels, x).
DEVICE_TIME_RULES: list[dict] = [
    {"name": "evening_video_on_mobile_tv", "content_type": "video",
     "devices": ["mobile", "tv"], "hours": HOUR_BUCKETS["evening"], "channels": None,
     "multiplier": 4.0},
    {"name": "tv_is_video_first", "content_type": "video", "devices": ["tv"], "hours": None,
     "channels": None, "multiplier": 3.0},
    {"name": "tv_few_articles", "content_type": "article", "devices": ["tv"], "hours": None,
     "channels": None, "multiplier": 0.25},
    {"name": "morning_articles_on_desktop", "content_type": "article", "devices": ["desktop"],
     "hours": HOUR_BUCKETS["morning"], "channels": None, "multiplier": 3.0},
    {"name": "email_offers", "content_type": "offer", "devices": None, "hours": None,
     "channels": ["email"], "multiplier": 2.0},
    {"name": "lunchtime_email_offers", "content_type": "offer", "devices": None,
     "hours": HOUR_BUCKETS["midday"], "channels": ["email"], "multiplier": 4.0},
]

PROMOTION = {"start": dt.date(2025, 6, 16), "end": dt.date(2025, 7, 6),
             "categories": ["Travel", "Outdoor"], "content_type": "offer", "multiplier": 8.0,
             "funnel_multiplier": 1.3}

TREND_SHIFT = {"date": dt.date(2025, 12, 1), "rising": {"Fitness": 3.0, "Finance": 2.5},
               "falling": {"Outdoor": 0.3}}

NEW_ITEM_SHARE = 0.04
NEW_ITEM_DAYS = 7
SERIES_PER_ITEMS = 30  # one series per this many catalog items
SERIES_LENGTH = (4, 7)
SERIES_ENTRY_WEIGHT = 2.5  # popularity multiplier of part 1
SERIES_LATER_PART_WEIGHT = 0.1  # later parts are rarely entered out of order
SERIES_CONTINUE_SAME_SESSION = 0.85
SERIES_CONTINUE_NEXT_SESSION = 0.6

# Funnel per content type: P(click | view), P(add_to_cart | click), P(purchase | cart).
FUNNEL: dict[str, list[float]] = {
    "article": [0.45, 0.0, 0.0], "video": [0.55, 0.0, 0.0],
    "offer": [0.40, 0.45, 0.55], "product": [0.35, 0.35, 0.50],
}

ZERO_EVENT_CUSTOMER_SHARE = 0.01
MEAN_SESSION_INTERACTIONS = 3.5
ACTIVITY_SIGMA = 1.0
SESSION_GAP_S = 1800
