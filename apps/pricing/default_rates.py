"""Version 1 of the price list: the rate cards spendguard-engine 0.1.0 ships as defaults, plus the
grok cards the engine added after 0.1.0. Used only by the seed migration; later prices are versions."""

ENGINE_0_1_0_DEFAULTS = {
    "openai": {
        "gpt-4o-mini": {"input_cents_per_1m": 30, "output_cents_per_1m": 120},
        "gpt-4o": {"input_cents_per_1m": 250, "output_cents_per_1m": 1000},
        "gpt-5.2": {"input_cents_per_1m": 175, "output_cents_per_1m": 1400, "cached_input_cents_per_1m": 18},
        "gpt-5.2-chat-latest": {"input_cents_per_1m": 175, "output_cents_per_1m": 1400, "cached_input_cents_per_1m": 18},
        "gpt-5.2-codex": {"input_cents_per_1m": 175, "output_cents_per_1m": 1400, "cached_input_cents_per_1m": 18},
        "gpt-5.2-pro": {"input_cents_per_1m": 2100, "output_cents_per_1m": 16800},
        "o3-mini": {"input_cents_per_1m": 110, "output_cents_per_1m": 440, "cached_input_cents_per_1m": 55},
        "o3": {"input_cents_per_1m": 200, "output_cents_per_1m": 800, "cached_input_cents_per_1m": 50},
        "o3-pro": {"input_cents_per_1m": 2000, "output_cents_per_1m": 8000},
        "o3-deep-research": {"input_cents_per_1m": 1000, "output_cents_per_1m": 4000, "cached_input_cents_per_1m": 250},
        "o1-mini": {"input_cents_per_1m": 110, "output_cents_per_1m": 440, "cached_input_cents_per_1m": 55},
        "o1": {"input_cents_per_1m": 1500, "output_cents_per_1m": 6000, "cached_input_cents_per_1m": 750},
    },
    "gemini": {
        "gemini-3-flash-preview": {"input_cents_per_1m": 50, "output_cents_per_1m": 200},
        "gemini-3-pro-preview": {"input_cents_per_1m": 200, "output_cents_per_1m": 1200, "cached_input_cents_per_1m": 20},
        "gemini-1.5-flash": {"input_cents_per_1m": 35, "output_cents_per_1m": 150},
    },
    "anthropic": {
        "claude-opus-4-6": {"input_cents_per_1m": 500, "output_cents_per_1m": 2500},
        "claude-3-5-sonnet-latest": {"input_cents_per_1m": 400, "output_cents_per_1m": 2000},
        "claude-3-5-haiku-latest": {"input_cents_per_1m": 100, "output_cents_per_1m": 500},
    },
}

GROK_CARDS = {
    model: {"input_cents_per_1m": 300, "output_cents_per_1m": 1500, "cached_input_cents_per_1m": 75}
    for model in ("grok-3", "grok-3-latest", "grok-3-fast-latest")
}

SEED_RATES = {**ENGINE_0_1_0_DEFAULTS, "grok": GROK_CARDS}
