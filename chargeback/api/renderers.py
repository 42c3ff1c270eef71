from rest_framework.renderers import BaseRenderer

from teams.csv_export import write_csv


class ReportCsvRenderer(BaseRenderer):
    """The report's rows as CSV, one line per group and period, columns as in `columns`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return write_csv(data["columns"], data["rows"]).encode(self.charset)
