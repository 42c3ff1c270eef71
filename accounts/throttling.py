"""Rate limits for automation: each API token has its own budget; browser sessions have none."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken


class ApiTokenRateThrottle(SimpleRateThrottle):
    """`DEFAULT_THROTTLE_RATES["api_token"]` per token, e.g. "1200/min"."""

    scope = "api_token"

    def get_rate(self) -> str | None:
        # Read at each request rather than at import, so that settings overrides take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
