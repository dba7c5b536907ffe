"""The HTTP door: the aiohttp app (health, calendar feeds, the admin page, the webhook)."""
