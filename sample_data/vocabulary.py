"""Per-topic word lists used to write item titles, descriptions, tags and brands.

Each topic has its own nouns, adjectives, tags and brands so that text-based
models (TF-IDF, embeddings) can recover the topic from an item's text alone.
"""

from __future__ import annotations

TOPICS: dict[str, dict[str, list[str]]] = {
    "Outdoor": {
        "nouns": ["trail", "hiking boots", "campsite", "tent", "backpack", "summit", "canyon",
                  "kayak", "trekking poles", "wilderness", "sleeping bag", "campfire",
                  "mountain pass", "national park", "headlamp", "rain shell"],
        "adjectives": ["rugged", "waterproof", "lightweight", "alpine", "backcountry", "scenic"],
        "tags": ["hiking", "camping", "trail-running", "kayaking", "mountains", "gear",
                 "national-parks", "climbing"],
        "brands": ["TrailForge", "Summit & Pine", "NorthRidge", "Canyon Crest", "WildPath"],
        "series": ["Trail Running Basics", "Backcountry Camping 101", "Kayak Skills Camp",
                   "Winter Hiking Essentials", "Navigation Without a Phone"],
    },
    "Fitness": {
        "nouns": ["workout", "squat", "kettlebell", "treadmill", "protein shake", "yoga mat",
                  "dumbbells", "interval training", "marathon", "stretching routine", "core",
                  "resistance band", "personal best", "recovery day", "cardio", "pull-up bar"],
        "adjectives": ["high-intensity", "beginner-friendly", "full-body", "low-impact",
                       "explosive", "sweat-proof"],
        "tags": ["workout", "strength", "cardio", "yoga", "running", "hiit", "mobility",
                 "nutrition"],
        "brands": ["IronPulse", "FlexCore", "StrideLab", "PeakRep", "ZenFlow"],
        "series": ["Couch to 5K", "Strength Foundations", "30-Day Yoga Flow",
                   "Mobility Made Simple", "Half Marathon Plan"],
    },
    "Cooking": {
        "nouns": ["recipe", "sourdough", "skillet", "pasta", "spice rack", "roast chicken",
                  "chef's knife", "casserole", "stir-fry", "dough", "baking sheet", "risotto",
                  "dutch oven", "herb garden", "marinade", "dessert"],
        "adjectives": ["homemade", "crispy", "savory", "one-pot", "slow-cooked", "seasonal"],
        "tags": ["recipes", "baking", "meal-prep", "vegetarian", "kitchen", "quick-dinners",
                 "desserts", "grilling"],
        "brands": ["Copper & Thyme", "KitchenCraft", "Hearth & Table", "SpiceRoute", "ChefNest"],
        "series": ["Sourdough from Scratch", "Weeknight Pasta School", "Knife Skills Academy",
                   "Plant-Based Kitchen", "Baking Bread at Home"],
    },
    "Travel": {
        "nouns": ["itinerary", "passport", "city break", "beach resort", "road trip", "hostel",
                  "carry-on", "boarding pass", "island", "old town", "airport lounge",
                  "travel insurance", "guidebook", "layover", "cruise", "train journey"],
        "adjectives": ["budget", "off-the-beaten-path", "all-inclusive", "coastal", "weekend",
                       "first-class"],
        "tags": ["travel", "city-breaks", "flights", "hotels", "backpacking", "road-trips",
                 "beaches", "packing"],
        "brands": ["Wanderly", "JetNest", "Atlas Voyages", "Harbor & Home", "RoamWise"],
        "series": ["Backpacking Southeast Asia", "City Breaks Europe", "Road Trip America",
                   "Travel Hacking Masterclass", "Slow Travel Japan"],
    },
    "Tech": {
        "nouns": ["smartphone", "laptop", "wireless earbuds", "router", "smartwatch", "GPU",
                  "operating system", "cloud storage", "mechanical keyboard", "4K monitor",
                  "password manager", "smart speaker", "processor", "app update", "USB-C hub",
                  "battery life"],
        "adjectives": ["wireless", "next-gen", "ultra-fast", "open-source", "foldable",
                       "AI-powered"],
        "tags": ["gadgets", "smartphones", "laptops", "software", "ai", "reviews", "smart-home",
                 "security"],
        "brands": ["Voltix", "NexaByte", "Quantic", "PixelForge", "Circuitry"],
        "series": ["Home Network Setup", "Python for Marketers", "Build Your First PC",
                   "Smart Home Starter", "Cybersecurity at Home"],
    },
    "Finance": {
        "nouns": ["budget", "index fund", "retirement account", "credit score", "mortgage",
                  "savings goal", "dividend", "tax return", "emergency fund", "portfolio",
                  "interest rate", "pension", "side hustle", "stock market", "loan", "invoice"],
        "adjectives": ["tax-efficient", "long-term", "low-fee", "compound", "debt-free",
                       "diversified"],
        "tags": ["investing", "budgeting", "saving", "retirement", "taxes", "credit", "banking",
                 "money-tips"],
        "brands": ["LedgerLeaf", "Coinwise", "Harborstone Capital", "PennyPath", "Vaultline"],
        "series": ["Investing for Beginners", "Budget Reset", "Retirement Roadmap",
                   "Credit Score Fixes", "Taxes Made Easy"],
    },
    "Fashion": {
        "nouns": ["denim jacket", "sneakers", "capsule wardrobe", "trench coat", "handbag",
                  "runway", "linen shirt", "ankle boots", "silk scarf", "streetwear", "blazer",
                  "sundress", "knitwear", "accessories", "tailoring", "lookbook"],
        "adjectives": ["oversized", "vintage", "minimalist", "tailored", "statement",
                       "sustainable"],
        "tags": ["style", "outfits", "streetwear", "shoes", "accessories", "trends",
                 "sustainable-fashion", "wardrobe"],
        "brands": ["Maison Verre", "Thread & Co", "Urban Loom", "Velvet Fox", "Atelier Nord"],
        "series": ["Capsule Wardrobe Builder", "Style Through the Decades", "Tailoring 101",
                   "Sneaker Culture Explained", "Thrift Flip Workshop"],
    },
    "Home": {
        "nouns": ["living room", "sofa", "houseplant", "bookshelf", "throw pillow", "paint color",
                  "storage bins", "bedding", "floor lamp", "kitchen island", "rug", "closet",
                  "patio", "wallpaper", "power drill", "curtains"],
        "adjectives": ["cozy", "scandinavian", "space-saving", "rustic", "modular", "airy"],
        "tags": ["decor", "diy", "organizing", "furniture", "garden", "renovation",
                 "small-spaces", "cleaning"],
        "brands": ["Nestwell", "OakHaven", "Lumen & Loft", "Brickhouse", "Casa Verde"],
        "series": ["Small Space Makeover", "Weekend DIY Projects", "Declutter Challenge",
                   "Houseplant Care Guide", "Paint Like a Pro"],
    },
    "Beauty": {
        "nouns": ["serum", "moisturizer", "lipstick", "skincare routine", "sunscreen",
                  "foundation", "hair mask", "mascara", "cleanser", "nail polish", "retinol",
                  "face mask", "fragrance", "eyeshadow palette", "toner", "curling iron"],
        "adjectives": ["hydrating", "fragrance-free", "long-wear", "dewy", "matte", "vegan"],
        "tags": ["skincare", "makeup", "haircare", "fragrance", "nails", "clean-beauty",
                 "routines", "spf"],
        "brands": ["Lumiere Skin", "Rose & Clay", "GlowLab", "Petal Theory", "Aurae"],
        "series": ["Skincare Routine Basics", "Makeup Masterclass", "Healthy Hair Journey",
                   "Sunscreen Science", "Nail Art Basics"],
    },
    "Gaming": {
        "nouns": ["console", "speedrun", "boss fight", "controller", "esports", "RPG",
                  "loot drop", "co-op campaign", "gaming headset", "patch notes", "indie game",
                  "leaderboard", "open world", "gaming chair", "battle pass", "strategy guide"],
        "adjectives": ["competitive", "retro", "multiplayer", "pixel-art", "hardcore",
                       "cross-platform"],
        "tags": ["gaming", "esports", "consoles", "pc-gaming", "rpg", "indie-games",
                 "walkthroughs", "streaming"],
        "brands": ["Pixelstorm", "ManaForge", "RespawnLab", "Critical Byte", "Nexus Arcade"],
        "series": ["Speedrunning Fundamentals", "RPG Strategy Guide", "Esports Pro Path",
                   "Retro Console Restoration", "Indie Game Dev Diary"],
    },
}

TITLE_TEMPLATES: dict[str, list[str]] = {
    "article": ["{n} {adj} {noun} tips for {audience}", "How to choose the right {noun}",
                "The complete guide to {adj} {noun}", "Why everyone is talking about the {noun}",
                "{n} mistakes to avoid with your {noun}", "What we learned about the {adj} {noun}"],
    "video": ["Watch: {adj} {noun} in {minutes} minutes", "{noun} tutorial for {audience}",
              "Video: behind the {noun}", "{minutes}-minute {adj} {noun} walkthrough",
              "Live session: {noun} and {noun2}"],
    "offer": ["{pct}% off {brand} {noun}", "Limited deal: {adj} {noun} bundle",
              "Save on the {brand} {noun} this week", "Members offer: {noun} and {noun2} pack"],
    "product": ["{brand} {adj} {noun}", "{brand} {noun} pro", "{adj} {noun} by {brand}",
                "{brand} {noun} starter kit"],
}

SENTENCES: list[str] = [
    "Everything you need to know about the {adj} {noun}.",
    "A practical look at {noun} and {noun2} for {audience}.",
    "Our editors compare the best {noun} options this season.",
    "Learn how the {noun} fits into your {adj} routine.",
    "From {noun} to {noun2}, we cover the essentials.",
    "Perfect if you love {tag} and {tag2}.",
    "Includes expert advice on {noun2}.",
]

AUDIENCES: list[str] = ["beginners", "busy parents", "students", "professionals", "families",
                        "weekend warriors", "experts", "everyone"]

FIRST_NAMES: dict[str, list[str]] = {
    "female": ["emma", "olivia", "sofia", "mia", "hannah", "lena", "chloe", "yuki", "lucia",
               "amelia", "grace", "julia", "clara", "isabel", "nora", "aiko", "elena", "maya"],
    "male": ["liam", "noah", "lucas", "leon", "james", "hugo", "mateo", "kenji", "oliver",
             "felix", "daniel", "marco", "ethan", "jonas", "samuel", "haruto", "adam", "max"],
}

LAST_NAMES: list[str] = ["smith", "johnson", "muller", "schmidt", "garcia", "rossi", "martin",
                         "bernard", "tanaka", "sato", "brown", "wilson", "jansen", "devries",
                         "lopez", "moreau", "taylor", "anderson", "fischer", "ferrari", "clarke",
                         "nakamura", "walker", "romano"]
