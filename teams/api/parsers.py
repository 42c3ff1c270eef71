from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class PortalJSONParser(JSONParser):
    """JSON, where a document nested deeper than Python recurses is bad input (400), not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
