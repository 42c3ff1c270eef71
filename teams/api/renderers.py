"""The browsable API under the Content-Security-Policy."""

from csp.constants import UNSAFE_INLINE
from rest_framework.renderers import BrowsableAPIRenderer


class PortalBrowsableAPIRenderer(BrowsableAPIRenderer):
    """DRF's HTML pages, which place a few elements with inline `style` attributes: these pages alone may.

    Scripts stay as strict as everywhere else; only the HTML rendering of the API loosens style-src.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": [UNSAFE_INLINE]}
        return super().render(data, accepted_media_type, renderer_context)
